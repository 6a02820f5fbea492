"""A data directory belongs to one process at a time (issue 15).

:func:`locked` takes an OS lock (``fcntl.flock`` on ``D/.lock``) for as long as a
service — a coordinator, ``qorch up``, a node — uses the directory: a second process on
the same directory refuses to start, naming the holder's pid (written into the file only
for that message). The kernel releases the lock when the holder exits however it exits,
SIGKILL included, so a crash never leaves a stale lock and a restart on the same
directory starts normally.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qorch.errors import UsageError

LOCK_FILE = ".lock"


@contextmanager
def locked(directory: Path, role: str) -> Iterator[Path]:
    """Hold ``directory``'s lock (creating the directory) while the block runs; raise
    :class:`~qorch.errors.UsageError` when another process holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise UsageError(
            f"data directory {directory} is in use by {holder}: stop that process or choose "
            "another --data-dir"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} ({role})\n".encode())
        yield directory
    finally:
        os.close(fd)  # releases the lock; the file stays, unlocked
