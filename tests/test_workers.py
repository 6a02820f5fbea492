"""Worker processes (DESIGN §11): a crashed worker is replaced and its task tried once
more; a task that kills every worker it meets ends in a structured error."""

from __future__ import annotations

import os
import signal
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
