"""Registers the ``sqlite`` store (entry point ``sqlite`` in group ``qorch``)."""

from __future__ import annotations

from pathlib import Path

import attrs

from qorch.hookspecs import Register, hookimpl

JOURNAL_MODES = ("wal", "delete", "truncate", "persist", "memory")
SYNCHRONOUS = ("off", "normal", "full", "extra")


@attrs.frozen
class SqliteOptions:
    """Options of the sqlite store: ``[plugins.store.sqlite]``."""

    filename: str = attrs.field(
        default="qorch.sqlite3", metadata={"doc": "database file, relative to paths.data_dir"}
    )
    journal_mode: str = attrs.field(
        default="wal",
        validator=attrs.validators.in_(JOURNAL_MODES),
        metadata={"doc": "SQLite journal mode: " + ", ".join(JOURNAL_MODES)},
    )
    synchronous: str = attrs.field(
        default="normal",
        validator=attrs.validators.in_(SYNCHRONOUS),
        metadata={"doc": "SQLite synchronous level: " + ", ".join(SYNCHRONOUS)},
    )
    busy_timeout_ms: int = attrs.field(
        default=5000,
        validator=attrs.validators.ge(0),
        metadata={"doc": "how long a writer waits for the database lock, in milliseconds"},
    )


def create_store(options: SqliteOptions, *, data_dir: Path) -> object:
    """Build a :class:`~qorch_sqlite.store.SqliteStore` on ``data_dir / options.filename``."""
    from qorch_sqlite.store import SqliteStore

    return SqliteStore(Path(data_dir) / options.filename, options)


@hookimpl
def qorch_register_stores(register: Register) -> None:
    """Register the SQLite store."""
    register(
        "sqlite",
        create_store,
        options=SqliteOptions,
        summary="peewee on one SQLite file (WAL), versioned reversible migrations",
    )
