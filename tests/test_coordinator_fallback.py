"""A node SIGKILLed mid-job (FR-007, NFR-002): survived by fallback when another plan
exists, a fragment-level failure when none does.

Ideal node processes of three qubits each and a coordinator process; a five-qubit GHZ
circuit needs two of them. Once the job holds its windows (the store's reservations, read
through the store plugin), one node it uses is killed with SIGKILL. With a third node the
fallback policy re-plans without the dead one and the job completes with the GHZ counts;
with only two nodes there is no feasible fallback and the job fails at once with the
fragment, its nodes, the attempts and the last error.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from qorch.config import Settings
from qorch.plugins import PluginSystem
from qorch.testing.coordinator_process import CoordinatorProcess, start_node_process
from tests.conftest import REPO

GHZ5 = (REPO / "examples" / "circuits" / "ghz5.qasm").read_text()
NODE_ENV = {"QORCH_NODE__TIME_SCALE": "300000"}  # fragments take a while: time to kill one


def small_ideal_topology(tmp: Path, names: list[str]) -> Path:
    text = (REPO / "examples" / "topologies" / "noiseless-two-nodes.toml").read_text()
    header, entry = text.split("[[nodes]]")[0], text.split("[[nodes]]")[1]
    entries = [
        entry.replace('"ideal-a"', f'"{n}"').replace("qubits = 16", "qubits = 3") for n in names
    ]
    path = tmp / "small.toml"
    path.write_text(header + "".join("[[nodes]]" + e for e in entries))
    return path


def nodes_holding(data: Path, job_id: str) -> list[str]:
    store = PluginSystem(Settings()).create("store", data_dir=data)
    with store:
        return sorted({r.node for r in store.list_reservations(job_id=job_id)})


@pytest.mark.slow
@pytest.mark.parametrize("names", [["n1", "n2", "n3"], ["n1", "n2"]], ids=["spare", "no-spare"])
def test_a_node_killed_mid_job(tmp_path, names):
    topology = small_ideal_topology(tmp_path, names)
    nodes = {n: start_node_process(topology, n, tmp_path / n, NODE_ENV) for n in names}
    env = {"QORCH_RUNTIME__ATTEMPTS": "2", "QORCH_RUNTIME__PLAN_WAIT_S": "0"}
    coordinator = CoordinatorProcess(
        ["coordinator", "--bootstrap", *(a for _p, a in nodes.values())], tmp_path / "data", env
    ).start()
    try:
        coordinator.wait_for_nodes(len(names))
        job_id = coordinator.submit(GHZ5, shots=500, seed=1)
        end = time.monotonic() + 60
        while not (held := nodes_holding(tmp_path / "data", job_id)):
            assert time.monotonic() < end, "the job never held a window"
            time.sleep(0.02)
        victim = held[-1]
        nodes[victim][0].send_signal(signal.SIGKILL)
        status = coordinator.wait([job_id], timeout=120)[job_id]
        if len(names) == 3:
            assert status["state"] == "COMPLETED", status
            result = coordinator.request("GET", f"/api/v1/jobs/{job_id}/result").json()
            assert set(result["counts"]) <= {"00000", "11111"}
            assert victim not in result["fragments_per_node"]
            assert result["fallbacks"] and victim in result["fallbacks"][0]["excluded"]
        else:
            assert status["state"] == "FAILED", status
            error = status["error"]
            assert error["kind"] == "job_failed"
            details = error["details"]
            if "fragment" in details:  # the failing fragment, named (FR-007)
                assert victim in details["nodes"] and details["attempts"] == 2
                assert details["error"]
            else:  # the re-plan found no feasible plan after the failure
                assert details["infeasible"]["kind"] == "infeasible"
    finally:
        coordinator.kill(signal.SIGKILL)
        for proc, _address in nodes.values():
            proc.kill()
            proc.wait(30)
