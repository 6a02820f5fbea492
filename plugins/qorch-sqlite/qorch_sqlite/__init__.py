"""qorch-sqlite: the default store of qorch (FR-010), peewee on SQLite in WAL mode."""

__version__ = "0.1.0"
