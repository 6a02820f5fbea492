"""Worker processes (DESIGN §11): a crashed worker is replaced and its task tried once
more; a task that kills every worker it meets ends in a structured error; workers do not
outlive a parent that was SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from qorch.runtime.workers import WorkerCrashed, in_worker


def die_once(marker: str) -> int:
    """SIGKILL the worker the first time (the marker file says it happened)."""
    path = Path(marker)
    if not path.exists():
        path.write_text("died")
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def die_always() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_worker_is_replaced_and_its_task_retried(tmp_path):
    marker = tmp_path / "marker"
    pid = trio.run(in_worker, die_once, str(marker))
    assert marker.read_text() == "died" and pid != os.getpid()


def test_a_task_that_kills_every_worker_fails_with_a_structured_error():
    with pytest.raises(WorkerCrashed) as info:
        trio.run(in_worker, die_always)
    assert info.value.to_dict()["kind"] == "worker_crashed"
    assert trio.run(in_worker, os.getpid) != os.getpid()  # the pool works again after


PARENT = """
import os, sys, trio
from qorch.runtime.workers import in_worker
print(trio.run(in_worker, os.getpid), flush=True)
sys.stdin.read()  # until killed
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_exit_when_their_parent_is_killed():
    """A SIGKILLed parent (a crashed coordinator) leaves no worker behind."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    worker = int(parent.stdout.readline())
    assert alive(worker)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30  # bounded; the worker looks every PARENT_POLL_S
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(worker)
