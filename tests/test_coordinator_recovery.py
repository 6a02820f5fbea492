"""A coordinator SIGKILLed with jobs in flight resumes them all (FR-010, NFR-002).

Two ``qorch node`` processes (ideal, slowed so jobs overlap) and a ``qorch coordinator``
process bootstrapped to them; twenty jobs are submitted and the coordinator is killed
with SIGKILL once several are past ``QUEUED``. A second coordinator on the same data
directory completes all twenty with the right counts, and the nodes' own counters show
that no fragment ran twice: the fragments they executed are exactly those the results
list (a fragment already run was answered from the node's record, by correlation id).
"""

from __future__ import annotations

import signal
import time

import pytest

from qorch.config import Settings
from qorch.coordinator.server import open_store
from qorch.plugins import PluginSystem
from qorch.testing.cluster import node_statuses
from qorch.testing.coordinator_process import CoordinatorProcess, start_node_process
from tests.conftest import REPO

TOPOLOGY = REPO / "examples" / "topologies" / "noiseless-two-nodes.toml"
CIRCUITS = [REPO / "examples" / "circuits" / n for n in ("qft4.qasm", "ghz5.qasm", "bell.qasm")]
JOBS = 20
NODE_ENV = {"QORCH_NODE__TIME_SCALE": "20000"}


def stop_all(coordinators, nodes) -> None:
    """Kill what is left of the coordinators; stop the node processes cleanly."""
    for proc in coordinators:
        if proc is not None:
            proc.kill(signal.SIGKILL)
    for proc, _address in nodes:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_coordinator_killed_with_twenty_jobs_in_flight_completes_them_all_once(tmp_path, stop):
    """SIGKILL: a crash. SIGTERM: a shutdown, which keeps the running jobs' windows."""
    nodes = [
        start_node_process(TOPOLOGY, n, tmp_path / n, NODE_ENV) for n in ("ideal-a", "ideal-b")
    ]
    addresses = [address for _proc, address in nodes]
    args = ["coordinator", "--bootstrap", *addresses]
    env = {"QORCH_COORDINATOR__CONCURRENCY": "4"}
    first = CoordinatorProcess(args, tmp_path / "data", env).start()
    second = None
    try:
        first.wait_for_nodes(2)
        jobs = [
            first.submit(CIRCUITS[i % len(CIRCUITS)].read_text(), shots=400, seed=i)
            for i in range(JOBS)
        ]
        deadline = time.monotonic() + 120
        while True:  # kill once several jobs are under way and some are not done
            listing = first.request("GET", "/api/v1/jobs?limit=100").json()["jobs"]
            states = [j["state"] for j in listing]
            started = sum(s != "QUEUED" for s in states)
            if started >= 6 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert states.count("COMPLETED") < JOBS, "every job ended before the kill"
        first.kill(stop)

        second = CoordinatorProcess(args, tmp_path / "data", env).start()
        ended = second.wait(jobs, timeout=300)
        assert all(s["state"] == "COMPLETED" for s in ended.values()), ended
        expected = 0
        for i, job_id in enumerate(jobs):
            result = second.request("GET", f"/api/v1/jobs/{job_id}/result").json()
            assert sum(result["counts"].values()) == 400
            outcomes = set(result["counts"])
            if CIRCUITS[i % len(CIRCUITS)].name == "bell.qasm":
                assert outcomes <= {"00", "11"}
            elif CIRCUITS[i % len(CIRCUITS)].name == "ghz5.qasm":
                assert outcomes <= {"00000", "11111"}
            expected += sum(len(f["nodes"]) for f in result["fragments"])  # once each
        second.kill(signal.SIGTERM)
        counters = node_statuses(addresses, tmp_path / "observer")
        executed = sum(c["executions"] for c in counters.values())
        assert executed == expected, (counters, expected)
    finally:
        stop_all((first, second), nodes)


@pytest.mark.slow
def test_a_restarted_coordinator_finds_its_nodes_from_the_stored_adverts(tmp_path):
    """FR-010 (service cache) and FR-008/FR-012 (persisted quality, fragments, metrics):
    a coordinator restarted without ``--bootstrap`` lists the nodes it knew at once,
    reaches them through their stored addresses, and runs a job on them."""
    nodes = [start_node_process(TOPOLOGY, n, tmp_path / n) for n in ("ideal-a", "ideal-b")]
    addresses = [address for _proc, address in nodes]
    first = CoordinatorProcess(["coordinator", "--bootstrap", *addresses], tmp_path / "data")
    second = None
    bell = CIRCUITS[2].read_text()
    try:
        first.start().wait_for_nodes(2)
        assert first.wait([first.submit(bell, shots=100)])
        first.kill(signal.SIGKILL)

        second = CoordinatorProcess(["coordinator"], tmp_path / "data").start()
        listed = second.request("GET", "/api/v1/nodes").json()["nodes"]
        assert sorted(n["node"] for n in listed) == ["ideal-a", "ideal-b"]
        second.wait_for_nodes(2)
        job = second.submit(bell, shots=100)
        assert second.wait([job])[job]["state"] == "COMPLETED"
        result = second.request("GET", f"/api/v1/jobs/{job}/result").json()
        assert second.kill(signal.SIGTERM) == 0
    finally:
        stop_all((first, second), nodes)
    store = open_store(PluginSystem(Settings()), tmp_path / "data")
    try:
        stored = {f.fragment_id: f for f in store.list_fragments(job)}
        assert sorted(stored) == sorted(f["fragment_id"] for f in result["fragments"])
        assert all(f.status == "ok" for f in stored.values())
        wall = [m for m in store.list_metrics("job_wall_ms") if m.labels == {"job_id": job}]
        assert len(wall) == 1 and wall[0].value == pytest.approx(result["wall_ms"])
        rtts = [r for r in store.list_quality_reports("ideal-a") if r.metric == "rtt_ms"]
        assert rtts and all(r.source == "coordinator" for r in rtts)
    finally:
        store.close()
