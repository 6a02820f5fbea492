"""A node never outlives the process that started it (issue 18, FR-001, NFR-002).

The starting process makes a pipe with :func:`parent_pipe`, hands the read end to the
node (``qorch node --parent-pipe FD``, inherited through ``pass_fds``) and keeps the
write end open for as long as the node should live. Nobody ever writes to it: when the
starting process ends — an exit, a crash, SIGKILL — the kernel closes its write end,
the node's read end reaches end of file and :func:`watch_parent` stops the node the way
SIGTERM does. A pipe, not ``PR_SET_PDEATHSIG``: that signal fires when the *thread*
that forked the child exits (``trio.lowlevel.open_process`` forks from a worker thread
that trio retires when idle), not when the process does; and not a poll of
``getppid()``, which needs a timer and a thread.
"""

from __future__ import annotations

import os
import stat

import trio
from loguru import logger

#: the ``qorch node`` option naming the inherited read end
PARENT_PIPE_OPTION = "--parent-pipe"


def parent_pipe() -> tuple[int, int]:
    """A new pipe for one child: ``(read end, write end)``. Pass the read end to the
    child (``pass_fds``, then close it here); keep the write end open while the child
    should run and close it once it has exited. Both ends are created close-on-exec, so
    no other child inherits them."""
    return os.pipe()


def parent_pipe_args(read_end: int) -> list[str]:
    """The ``qorch node`` arguments that hand it ``read_end``."""
    return [PARENT_PIPE_OPTION, str(read_end)]


def check_parent_pipe(fd: int) -> None:
    """Raise ``ValueError`` unless ``fd`` is an open pipe (or FIFO) this process holds."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        raise ValueError(f"file descriptor {fd} is not open") from None
    if not stat.S_ISFIFO(mode):
        raise ValueError(f"file descriptor {fd} is not a pipe")


async def watch_parent(
    fd: int,
    stop: trio.Event,
    *,
    name: str = "node",
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Set ``stop`` once the pipe ``fd`` reaches end of file: every write end is closed,
    so the process that started this one has ended. Bytes written to it are ignored."""
    os.set_blocking(fd, False)
    task_status.started()
    try:
        while True:
            await trio.lowlevel.wait_readable(fd)
            try:
                if os.read(fd, 4096) == b"":
                    break
            except BlockingIOError:  # woken with nothing to read
                continue
    finally:
        trio.lowlevel.notify_closing(fd)
        os.close(fd)
    logger.warning("{}: the process that started it has ended; stopping", name)
    stop.set()
