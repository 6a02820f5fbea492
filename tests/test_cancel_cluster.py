"""Cancelling a running job on real processes (FR-005, FR-009, FR-010).

``qorch up`` on two ideal nodes of four qubits, slowed (``[node] time_scale``) so that a
six-qubit ring — about twenty fragments split over both nodes — runs for seconds. The job
is cancelled once it is ``EXECUTING``: the cancel answers 200 and the job ends ``FAILED``
with error kind ``cancelled``, never ``COMPLETED``; its nodes hold no window any more and
run none of its remaining fragments; a second cancel, and a cancel of a job that
completed, answer 409 with the final state; the store would not resume the cancelled job
after a restart (it is not unfinished) and holds none of its windows as granted. The
``qorch cancel`` and ``qorch jobs`` clients against the same coordinator.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qorch.config import Settings
from qorch.coordinator.server import open_store
from qorch.plugins import PluginSystem
from qorch.testing.cluster import node_statuses
from qorch.testing.coordinator_process import CoordinatorProcess
from tests.conftest import REPO

BELL = (REPO / "examples" / "circuits" / "bell.qasm").read_text()
RING6 = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[6];\ncreg c[6];\n'
    + "".join(f"h q[{i}];\n" for i in range(6))
    + "".join(f"cx q[{i}],q[{(i + 1) % 6}];\n" for i in range(6)) * 3
    + "measure q -> c;\n"
)
TIME_SCALE = "1000000"  # a fragment of the ring takes about half a second


def small_nodes(tmp: Path) -> Path:
    """The noiseless two-node topology with four qubits a node: the ring is split."""
    text = (REPO / "examples" / "topologies" / "noiseless-two-nodes.toml").read_text()
    path = tmp / "small.toml"
    path.write_text(text.replace("qubits = 16", "qubits = 4"))
    return path


def wait_state(proc: CoordinatorProcess, job_id: str, state: str, timeout: float = 120.0) -> None:
    """Poll until ``job_id`` is in ``state`` (bounded; fails if it ends in another)."""
    end = time.monotonic() + timeout
    while (now := proc.request("GET", f"/api/v1/jobs/{job_id}").json())["state"] != state:
        assert now["state"] not in ("COMPLETED", "FAILED"), now
        assert time.monotonic() < end, f"{job_id} not {state} after {timeout} s: {now}"
        time.sleep(0.05)


def executions(statuses: dict[str, dict]) -> int:
    """Fragments the nodes ran, all nodes together."""
    return sum(s["executions"] for s in statuses.values())


def qorch(proc: CoordinatorProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """One ``qorch`` client command against ``proc``."""
    return subprocess.run(
        [sys.executable, "-m", "qorch", *args, "--url", proc.url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def check_the_cli(proc: CoordinatorProcess, cancelled: str, completed: str) -> None:
    """``qorch cancel`` exits 0 when it ends a job, 1 on the API's 409 (with the final
    state), 2 for an unknown job; ``qorch jobs --json`` prints the API's listing."""
    ended = qorch(proc, "cancel", cancelled)
    assert ended.returncode == 1 and "had already ended: FAILED" in ended.stderr
    done = qorch(proc, "cancel", completed, "--json")
    assert done.returncode == 1 and json.loads(done.stdout)["state"] == "COMPLETED"
    running = proc.submit(RING6, shots=100, seed=3)
    stopped = qorch(proc, "cancel", running)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.split() == [running, "FAILED", "cancelled"]
    unknown = qorch(proc, "cancel", "job-nope")
    assert unknown.returncode == 2 and "not_found" in unknown.stderr

    listed = qorch(proc, "jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == proc.request("GET", "/api/v1/jobs").json()
    failed = json.loads(qorch(proc, "jobs", "--state", "failed", "--json").stdout)
    assert {j["job_id"] for j in failed["jobs"]} == {cancelled, running}
    assert {j["error"]["kind"] for j in failed["jobs"]} == {"cancelled"}
    table = qorch(proc, "jobs", "--limit", "2")
    assert table.returncode == 0 and cancelled in table.stdout and "1-2 of 3 job(s)" in table.stdout
    bad = qorch(proc, "jobs", "--state", "DANCING")
    assert bad.returncode == 2 and "state" in bad.stderr


@pytest.mark.slow
def test_a_running_job_cancelled_ends_cancelled_with_its_windows_released(tmp_path):
    proc = CoordinatorProcess(
        ["up", "--topology", str(small_nodes(tmp_path))],
        tmp_path / "data",
        {"QORCH_NODE__TIME_SCALE": TIME_SCALE},
    )
    proc.start()
    try:
        proc.wait_for_nodes(2)
        listed = proc.request("GET", "/api/v1/nodes").json()["nodes"]
        addresses = [n["addresses"][0] for n in listed]
        job_id = proc.submit(RING6, shots=100, seed=1)
        wait_state(proc, job_id, "EXECUTING")

        reply = proc.request("POST", f"/api/v1/jobs/{job_id}/cancel")
        assert reply.status_code == 200, reply.text
        assert reply.json()["state"] == "FAILED"
        assert reply.json()["error"]["kind"] == "cancelled"

        # every window of the job given back: no node holds a reservation any more
        released = node_statuses(
            addresses,
            tmp_path / "observer",
            until=lambda s: all(n["active_reservations"] == 0 for n in s.values()),
        )
        ran = executions(released)
        status = proc.request("GET", f"/api/v1/jobs/{job_id}").json()
        assert status["state"] == "FAILED" and status["error"]["kind"] == "cancelled"

        again = proc.request("POST", f"/api/v1/jobs/{job_id}/cancel")
        assert again.status_code == 409
        assert again.json() == {
            "kind": "conflict",
            "message": f"job {job_id} had already ended: FAILED",
            "state": "FAILED",
        }

        bell = proc.submit(BELL, shots=100, seed=2)
        assert proc.wait([bell])[bell]["state"] == "COMPLETED"
        late = proc.request("POST", f"/api/v1/jobs/{bell}/cancel")
        assert late.status_code == 409 and late.json()["state"] == "COMPLETED"
        assert proc.request("GET", f"/api/v1/jobs/{bell}").json()["state"] == "COMPLETED"
        result = proc.request("GET", f"/api/v1/jobs/{bell}/result").json()
        bell_ran = sum(len(f["nodes"]) for f in result["fragments"])

        # the cancelled job ran nothing more once its windows were back: the nodes ran
        # only the Bell job's fragments since
        after = node_statuses(addresses, tmp_path / "observer")
        assert executions(after) == ran + bell_ran
        assert all(n["active_reservations"] == 0 for n in after.values())

        check_the_cli(proc, job_id, bell)
    finally:
        assert proc.kill(signal.SIGTERM) == 0, proc.stderr_tail()
    assert "crashed the worker" not in proc.stderr_path.read_text()

    store = open_store(PluginSystem(Settings()), tmp_path / "data")
    try:
        job = store.get_job(job_id)
        assert job.state.value == "FAILED" and job.error["kind"] == "cancelled"
        assert job_id not in {j.job_id for j in store.unfinished_jobs()}  # not resumed
        assert store.list_reservations(job_id=job_id, state="granted") == []
        # it stopped before its end: fewer fragments ran than its plan has
        assert ran < len(job.plan["plan"]["fragments"])
    finally:
        store.close()
