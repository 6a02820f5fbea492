"""Logging (FR-012): loguru configured once; text on a terminal, JSON lines otherwise.

Correlation ids are bound with :func:`correlation`, which uses loguru's
``contextualize`` (context variables), so every line logged inside — in this task and in
tasks it starts — carries ``request_id``, ``job_id`` and ``fragment_id``. Records from the
standard ``logging`` module (libraries such as peewee-migrate, later py-libp2p) are
routed into the same sink.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Message, Record

CORRELATION_KEYS = ("request_id", "job_id", "fragment_id")
_TEXT_FORMAT = (
    "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<cyan>{name}</cyan> {extra[_ids]}{message}"
)


def _json_line(record: Record) -> str:
    out: dict[str, Any] = {
        "time": record["time"].isoformat(),
        "level": record["level"].name,
        "logger": record["name"],
        "message": record["message"],
    }
    extra = {k: v for k, v in record["extra"].items() if not k.startswith("_")}
    for key in CORRELATION_KEYS:
        if key in extra:
            out[key] = extra.pop(key)
    if extra:
        out["extra"] = extra
    if record["exception"] is not None:
        exc = record["exception"]
        out["exception"] = f"{exc.type.__name__}: {exc.value}" if exc.type else None
    return json.dumps(out, default=str)


def _patch_ids(record: Record) -> None:
    ids = [f"{k}={record['extra'][k]}" for k in CORRELATION_KEYS if k in record["extra"]]
    record["extra"]["_ids"] = ("[" + " ".join(ids) + "] ") if ids else ""


class _InterceptHandler(logging.Handler):
    """Send standard-library log records to loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: TextIO | None = None) -> str:
    """Configure the one loguru sink; returns the format chosen (``text`` or ``json``).

    ``fmt`` is ``auto`` (text if ``stream`` is a terminal, else JSON lines), ``text`` or
    ``json``. Calling it again replaces the previous configuration.
    """
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "text" if getattr(stream, "isatty", lambda: False)() else "json"
    logger.remove()
    logger.configure(patcher=_patch_ids)
    if fmt == "json":

        def write_json(message: Message) -> None:
            stream.write(_json_line(message.record) + "\n")

        logger.add(write_json, level=level)
    else:
        logger.add(
            stream,
            level=level,
            format=_TEXT_FORMAT,
            colorize=stream.isatty(),
            backtrace=False,
            diagnose=False,
        )
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.WARNING, force=True)
    return fmt


@contextmanager
def correlation(**ids: str | None) -> Iterator[None]:
    """Bind correlation ids (``request_id``, ``job_id``, ``fragment_id``) to the logs inside.

    ``None`` values are skipped; unknown keys are rejected so a typo cannot hide an id.
    """
    unknown = set(ids) - set(CORRELATION_KEYS)
    if unknown:
        raise ValueError(f"unknown correlation keys {sorted(unknown)}")
    with logger.contextualize(**{k: v for k, v in ids.items() if v is not None}):
        yield
