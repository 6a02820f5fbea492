"""Node processes never outlive the process that started them (issue 18 item 4; FR-001,
NFR-002): ``qorch run``, ``qorch up`` and the harness (``qorch bench run``) are each
SIGKILLed while their nodes serve, and every node process they started is gone within a
bounded wait (checked by pid). The node watches an inherited pipe
(:mod:`qorch.node.watchdog`); its option is checked before the node starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio
import trio.testing

from qorch.node.watchdog import check_parent_pipe, parent_pipe, watch_parent
from qorch.testing.coordinator_process import CoordinatorProcess
from tests.conftest import REPO

QORCH = [sys.executable, "-m", "qorch"]
TOPOLOGY = REPO / "examples" / "topologies" / "noiseless-two-nodes.toml"
GHZ = REPO / "examples" / "circuits" / "ghz5.qasm"
#: jobs sleep a large multiple of their simulated duration: they outlast the test
SLOW = {"QORCH_NODE__TIME_SCALE": "100000000", "QORCH_LOGGING__LEVEL": "WARNING"}
WAIT_S = 60.0  # every wait is bounded


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def running(pid: int) -> bool:
    """The process exists and has not exited (a zombie nobody reaped has)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def node_children(parent: int) -> list[int]:
    """The running ``qorch node`` processes whose parent is ``parent``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is None or int(fields[1]) != parent or not running(int(entry.name)):
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"qorch" in argv and b"node" in argv:
            out.append(int(entry.name))
    return out


def wait_for_node_children(parent: subprocess.Popen[bytes], count: int) -> list[int]:
    """Poll (bounded) until ``parent`` has ``count`` node processes; their pids."""
    end = time.monotonic() + WAIT_S * 2
    while len(found := node_children(parent.pid)) < count:
        assert parent.poll() is None, f"the parent exited ({parent.returncode}) too soon"
        assert time.monotonic() < end, f"{len(found)} of {count} nodes started"
        time.sleep(0.1)
    return found


def still_running_after_wait(pids: list[int]) -> list[int]:
    """Poll (bounded) until none of ``pids`` runs; those still running at the end."""
    end = time.monotonic() + WAIT_S
    while (left := [p for p in pids if running(p)]) and time.monotonic() < end:
        time.sleep(0.1)
    return left


def _established_sockets() -> set[str]:
    """Inodes of this machine's (namespace's) established TCP connections."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "01":  # ESTABLISHED
                inodes.add(fields[9])
    return inodes


def connected(pid: int) -> bool:
    """``pid`` holds an established TCP connection. A node dials the process that
    started it only to advertise, which begins after it printed ``ready``: so it is
    serving, past the start-up (where a dead parent's closed stdout would end it)."""
    established = _established_sockets()
    try:
        links = [os.readlink(f) for f in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return False
    return any(link[8:-1] in established for link in links if link.startswith("socket:["))


def wait_until_serving(nodes: list[int]) -> None:
    end = time.monotonic() + WAIT_S * 2
    while not all(connected(p) for p in nodes):
        assert time.monotonic() < end, "the nodes never connected"
        time.sleep(0.1)


def sigkill_and_check(parent: subprocess.Popen[bytes], nodes: list[int]) -> None:
    """SIGKILL ``parent`` while it still runs; none of its ``nodes`` may stay."""
    try:
        assert parent.poll() is None, "the parent ended by itself: nothing was tested"
        assert all(running(p) for p in nodes)
        parent.kill()
        parent.wait(timeout=WAIT_S)
        assert still_running_after_wait(nodes) == []
    finally:
        for pid in nodes:  # leave nothing behind, whatever happened
            if running(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_sigkilled_qorch_run_takes_its_nodes_with_it(tmp_path):
    """Killed mid-job (the nodes serve; the job sleeps far longer than the test)."""
    run = subprocess.Popen(
        [*QORCH, "run", str(GHZ), "--topology", str(TOPOLOGY)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **SLOW},
    )
    nodes = wait_for_node_children(run, 2)
    wait_until_serving(nodes)
    sigkill_and_check(run, nodes)


def test_a_sigkilled_qorch_up_takes_its_nodes_with_it(tmp_path):
    """Under ``qorch up`` the coordinator and its nodes stop together (docs/runbook.md)."""
    up = CoordinatorProcess(["up", "--topology", str(TOPOLOGY)], tmp_path / "data", env=SLOW)
    up.start()
    assert up.process is not None
    up.wait_for_nodes(2)  # both serve and advertise
    nodes = node_children(up.process.pid)
    assert len(nodes) == 2 and all(connected(p) for p in nodes)
    sigkill_and_check(up.process, nodes)


def test_a_sigkilled_harness_takes_its_nodes_with_it(tmp_path):
    """``qorch bench run``: the nodes are the harness's children and end with it."""
    suite = tmp_path / "suite.toml"
    suite.write_text(
        'name = "lifetime"\nseed = 1\nshots = 100\nrepeats = 1\nmodes = ["tcp"]\n'
        f'topologies = ["{TOPOLOGY}"]\n\n[[circuits]]\nfile = "{GHZ}"\n\n'
        '[[scenarios]]\nname = "baseline"\n'
    )
    bench = subprocess.Popen(
        [*QORCH, "bench", "run", str(suite), "--out", str(tmp_path / "out"), "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **SLOW},
    )
    nodes = wait_for_node_children(bench, 2)
    wait_until_serving(nodes)
    sigkill_and_check(bench, nodes)


# -- the watchdog itself -----------------------------------------------------------------


def test_the_watchdog_stops_at_end_of_file_and_not_before():
    """Bytes on the pipe do not stop the node; closing every write end does."""
    read_end, write_end = parent_pipe()
    stop = trio.Event()
    seen = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(watch_parent, read_end, stop)
            os.write(write_end, b"not a close")
            await trio.testing.wait_all_tasks_blocked()
            seen.append(stop.is_set())
            os.close(write_end)
            await stop.wait()
            seen.append(stop.is_set())

    trio.run(main)
    assert seen == [False, True]


def test_the_parent_pipe_option_must_name_an_open_pipe(tmp_path):
    with pytest.raises(ValueError, match="not open"):
        check_parent_pipe(9999)
    with (tmp_path / "f").open("w") as plain, pytest.raises(ValueError, match="not a pipe"):
        check_parent_pipe(plain.fileno())
    done = subprocess.run(
        [*QORCH, "node", "--topology", str(TOPOLOGY), "--name", "ideal-a", "--parent-pipe", "9999"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: --parent-pipe 9999: file descriptor 9999 is not open")
