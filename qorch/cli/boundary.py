"""The command line's one error boundary (issue 15): sentences for mistakes, 130 for Ctrl-C.

Every command runs inside :func:`report`'s reach (``qorch.cli.main.main``):

* trio's exception groups are unwrapped to the errors inside them;
* a :class:`~qorch.errors.QorchError` — a user's mistake — prints ``error: <sentence>``
  and exits 2; so does a file that cannot be read (``cannot read nope.qasm: no such
  file``) and an address in use;
* Ctrl-C (``KeyboardInterrupt`` anywhere in the group) prints ``interrupted`` and exits
  130; long-running commands use :func:`run_trio`, which turns SIGINT and SIGTERM into a
  cancellation so every child process is stopped on the way out;
* anything else is a bug: ``internal error: <type>: <message>`` with the path of a file
  holding its traceback, exit 1. No traceback ever reaches the terminal.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import trio
from loguru import logger

from qorch.errors import QorchError

T = TypeVar("T")

#: exit statuses
USER_ERROR, INTERNAL_ERROR, INTERRUPTED = 2, 1, 130


def leaves(exc: BaseException) -> list[BaseException]:
    """The errors inside ``exc``: itself, or every leaf of a (nested) exception group."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


def user_message(exc: BaseException) -> str | None:
    """The sentence for a user's mistake, or ``None`` when ``exc`` is not one."""

    if isinstance(exc, QorchError):
        return str(exc)
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)) and (
        exc.filename is not None
    ):
        reason = (exc.strerror or type(exc).__name__).lower()
        return f"cannot read {exc.filename}: {reason}"
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return f"an address this command listens on is in use ({exc.strerror})"
    return None


def report(exc: BaseException) -> int:
    """Print what went wrong (module docstring) and return the exit status."""
    found = leaves(exc)
    if any(isinstance(e, KeyboardInterrupt) for e in found):
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    judged = [(e, user_message(e)) for e in found]
    messages = [m for _e, m in judged if m is not None]
    bugs = [e for e, m in judged if m is None and not _is_cancellation(e)]
    if messages and not bugs:
        for message in dict.fromkeys(messages):  # once each, in order
            print(f"error: {message}", file=sys.stderr)
        return USER_ERROR
    bug = bugs[0] if bugs else exc
    path = _write_traceback(exc)
    print(f"internal error: {type(bug).__name__}: {bug} (traceback in {path})", file=sys.stderr)
    return INTERNAL_ERROR


def _is_cancellation(exc: BaseException) -> bool:

    return isinstance(exc, trio.Cancelled)


def _write_traceback(exc: BaseException) -> Path:
    """The traceback of a bug, in a file of the temporary directory (and the debug log)."""

    logger.opt(exception=exc).debug("unexpected error")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(tempfile.gettempdir()) / f"qorch-internal-error-{stamp}-{os.getpid()}.log"
    text = "".join(traceback.format_exception(exc))
    try:
        path.write_text(f"qorch {' '.join(sys.argv[1:])}\n\n{text}", encoding="utf-8")
    except OSError:  # pragma: no cover - a full or read-only temporary directory
        return Path("(not written)")
    return path


def run_trio(main: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``trio.run(main, *args)``, with SIGINT and SIGTERM cancelling it instead of raising
    inside whatever runs: ``main``'s cleanup (stopping child processes, releasing
    windows) happens, then :class:`KeyboardInterrupt` is raised for :func:`report`."""

    interrupted = False

    async def guarded() -> Any:
        nonlocal interrupted
        result = None
        async with trio.open_nursery() as nursery:

            async def watch(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
                nonlocal interrupted
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    task_status.started()
                    async for _ in signals:
                        interrupted = True
                        nursery.cancel_scope.cancel()
                        return

            await nursery.start(watch)  # the signals are ours before main runs
            result = await main(*args)
            nursery.cancel_scope.cancel()
            return result

    result = trio.run(guarded)
    if interrupted:
        raise KeyboardInterrupt
    return result
