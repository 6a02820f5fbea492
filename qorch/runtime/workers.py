"""Worker processes for the world simulation (DESIGN §11).

qiskit's native code has crashed on trio's worker threads (a SIGSEGV in
``_accelerate`` takes the whole coordinator with it). :func:`in_worker` runs a function
in a pool of spawned processes instead, so a crash costs a worker, not the caller: a
worker that dies is replaced and its task tried once more in a fresh one, then
:class:`WorkerCrashed` (kind ``worker_crashed``) says so. The pool is made on first use,
one per process, with ``WORKERS`` processes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import trio

from qorch.errors import QorchError

WORKERS = 2
#: how often a worker checks that the process that started it is still there
PARENT_POLL_S = 0.5
#: a worker is replaced after this many tasks: what native libraries keep growing
#: between tasks (qiskit-aer's matrix-product-state log) stays bounded
TASKS_PER_WORKER = 50
T = TypeVar("T")
_pool: ProcessPoolExecutor | None = None


class WorkerCrashed(QorchError):
    """A worker process died twice running the same task."""

    kind = "worker_crashed"


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(
            WORKERS,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            max_tasks_per_child=TASKS_PER_WORKER,
        )
    return _pool


def _start_worker() -> None:
    """In a worker: Ctrl-C reaches the whole process group, but only the parent decides
    what stops (it cancels the task and shuts the pool down), so a worker ignores it; and
    a worker exits once its parent is gone — a SIGKILLed coordinator must not leave its
    workers running (they were seen orphaned after the crash tests)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    watch = threading.Thread(target=_exit_without, args=(parent,), name="parent-watch")
    watch.daemon = True  # never touches qiskit: it only reads the parent's pid
    watch.start()


def _exit_without(parent: int) -> None:
    """Exit this worker process as soon as ``parent`` is no longer its parent."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(0)


def _replace_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
    _pool = None


async def in_worker(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a worker process (picklable arguments and result)."""
    for attempt in range(2):
        future = _executor().submit(fn, *args, **kwargs)
        try:
            return await trio.to_thread.run_sync(future.result, abandon_on_cancel=True)
        except BrokenProcessPool:
            _replace_pool()
            if attempt:
                raise WorkerCrashed(
                    f"a worker process died twice running {getattr(fn, '__name__', fn)}"
                ) from None
    raise AssertionError("unreachable")  # pragma: no cover
