"""The coordinator service over real node processes (FR-006, FR-009, FR-010, FR-014).

``qorch up`` starts the coordinator and one ``qorch node`` process per topology node;
the tests talk to it only through its HTTP API and the ``qorch submit/status/result``
client: QASMBench circuits split over ideal nodes come back with qiskit-aer's ideal
distribution; the API's answers (202, 404, 409, 422 with field errors, paging, state
filter, cancel, health, OpenAPI) and a bad circuit's structured failure; SIGTERM stops
the coordinator and its nodes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from qiskit import qasm2, transpile
from qiskit.quantum_info import hellinger_fidelity
from qiskit_aer import AerSimulator

from qorch.testing.coordinator_process import CoordinatorProcess
from tests.conftest import REPO, corpus_files, needs_corpus

SHOTS = 4000
REFERENCE_SHOTS = 200_000
MAX_QUBITS = 6
NODE_QUBITS = 4  # two nodes of four: every circuit of five or six qubits is distributed
BELL = (REPO / "examples" / "circuits" / "bell.qasm").read_text()


def ideal_topology(tmp: Path) -> Path:
    """The noiseless example topology with nodes of NODE_QUBITS qubits."""
    text = (REPO / "examples" / "topologies" / "noiseless-two-nodes.toml").read_text()
    path = tmp / "ideal.toml"
    path.write_text(text.replace("qubits = 16", f"qubits = {NODE_QUBITS}"))
    return path


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("up")
    proc = CoordinatorProcess(["up", "--topology", str(ideal_topology(tmp))], tmp / "data")
    # two jobs at a time on two small nodes: they contend for both (reservation order)
    proc.env["QORCH_COORDINATOR__CONCURRENCY"] = "2"
    proc.start()
    yield proc
    assert proc.kill(signal.SIGTERM) == 0, proc.stderr_tail()


def reference_counts(path: Path) -> dict[str, int] | None:
    try:
        circuit = qasm2.load(
            str(path),
            include_path=(str(path.parent),),
            custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS,
        )
    except Exception:
        return None
    if not 2 <= circuit.num_qubits <= MAX_QUBITS or not circuit.num_clbits:
        return None
    sim = AerSimulator(method="statevector", seed_simulator=7)
    return sim.run(transpile(circuit, sim), shots=REFERENCE_SHOTS).result().get_counts()


@needs_corpus
@pytest.mark.slow
@pytest.mark.corpus
def test_corpus_circuits_through_the_api_on_ideal_node_processes_give_the_ideal_counts(
    coordinator,
):
    cases = {}
    for path in corpus_files():
        ref = reference_counts(path)
        if ref is not None:
            job = coordinator.submit(path.read_text(), shots=SHOTS, seed=11)
            cases[job] = (path, ref)
    assert len(cases) >= 20
    ended = coordinator.wait(list(cases), timeout=600)
    distributed = 0
    for job_id, (path, ref) in cases.items():
        assert ended[job_id]["state"] == "COMPLETED", (path.name, ended[job_id].get("error"))
        result = coordinator.request("GET", f"/api/v1/jobs/{job_id}/result").json()
        assert sum(result["counts"].values()) == SHOTS
        # shot noise alone keeps wide distributions below 0.99 (see test_corpus_runs)
        floor = min(0.99, 1 - (len(ref) - 1) / (2 * SHOTS))
        fidelity = hellinger_fidelity(result["counts"], ref)
        assert fidelity >= floor, (path.name, fidelity, floor)
        distributed += len(result["fragments_per_node"]) > 1
    assert distributed >= 5  # the split really happened for the wider circuits


def test_the_job_api_answers_each_request_with_the_documented_shape(coordinator):
    job_id = coordinator.submit(BELL, shots=500, seed=3)
    status = coordinator.request("GET", f"/api/v1/jobs/{job_id}").json()
    assert set(status) >= {"job_id", "state", "created_at", "updated_at"}
    coordinator.wait([job_id])
    result = coordinator.request("GET", f"/api/v1/jobs/{job_id}/result").json()
    assert result["state"] == "COMPLETED" and sum(result["counts"].values()) == 500
    assert set(result["counts"]) == {"00", "11"}  # ideal nodes: a Bell pair only
    for key in ("estimated_fidelity", "achieved_fidelity", "ebits", "fragments", "retries",
                "fallbacks", "orchestration_overhead_ms", "simulated"):  # fmt: skip
        assert key in result
    # the same seed gives the same counts
    again = coordinator.submit(BELL, shots=500, seed=3)
    coordinator.wait([again])
    counts = coordinator.request("GET", f"/api/v1/jobs/{again}/result").json()["counts"]
    assert counts == result["counts"]

    assert coordinator.request("GET", "/api/v1/jobs/job-nope").status_code == 404
    missing = coordinator.request("GET", "/api/v1/jobs/job-nope/result")
    assert missing.status_code == 404 and missing.json()["kind"] == "not_found"

    listed = coordinator.request("GET", "/api/v1/jobs?state=COMPLETED&limit=1&offset=1").json()
    assert listed["total"] >= 2 and len(listed["jobs"]) == 1
    assert all(j["state"] == "COMPLETED" for j in listed["jobs"])
    bad = coordinator.request("GET", "/api/v1/jobs?state=DANCING&limit=0")
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"state", "limit"}

    late = coordinator.request("POST", f"/api/v1/jobs/{job_id}/cancel")
    assert late.status_code == 409  # an ended job stays as it ended (FR-009)
    assert late.json()["kind"] == "conflict" and late.json()["state"] == "COMPLETED"
    assert coordinator.request("GET", f"/api/v1/jobs/{job_id}").json()["state"] == "COMPLETED"
    assert coordinator.request("POST", "/api/v1/jobs/job-nope/cancel").status_code == 404

    health = coordinator.request("GET", "/health").json()
    assert health["ok"] and health["nodes"] == 2
    nodes = coordinator.request("GET", "/api/v1/nodes").json()["nodes"]
    assert sorted(n["node"] for n in nodes) == ["ideal-a", "ideal-b"]
    schema = coordinator.request("GET", "/schema/openapi.json").json()
    assert "/api/v1/circuits/submit" in schema["paths"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"qasm": 3}, {"qasm"}),
        ({}, {"qasm"}),
        ({"qasm": BELL, "shots": 0, "min_fidelity": 2.0}, {"shots", "min_fidelity"}),
        ({"qasm": BELL, "format": "qasm4", "strategy": "nope"}, {"format", "strategy"}),
        ({"qasm": "   "}, {"qasm"}),
        ({"qasm": BELL, "shot": 10}, {"shot"}),
        ({"qasm": "", "shots": -5, "colour": "red"}, {"colour", "qasm", "shots"}),
    ],
)
def test_a_bad_submission_is_422_with_every_bad_field_and_no_job(coordinator, body, fields):
    before = coordinator.request("GET", "/api/v1/jobs").json()["total"]
    reply = coordinator.request("POST", "/api/v1/circuits/submit", body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["kind"] == "validation"
    assert {e["field"] for e in reply.json()["errors"]} == fields
    assert coordinator.request("GET", "/api/v1/jobs").json()["total"] == before


def test_a_body_that_is_not_json_is_400_malformed_as_documented(coordinator):
    url = coordinator.url + "/api/v1/circuits/submit"
    reply = coordinator.client.post(
        url, content=b"qasm=bell", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400 and reply.json()["kind"] == "malformed", reply.text
    api_doc = (REPO / "docs" / "api.md").read_text()
    assert "| 400 | a body that is not JSON | `malformed` |" in api_doc


def test_a_circuit_that_does_not_parse_fails_its_job_with_where(coordinator):
    qasm = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncx q[0], q[7];\n'
    job_id = coordinator.submit(qasm)
    status = coordinator.wait([job_id])[job_id]
    assert status["state"] == "FAILED"
    error = status["error"]
    assert error["kind"] in ("syntax", "semantic") and error["line"] == 4, error
    reply = coordinator.request("GET", f"/api/v1/jobs/{job_id}/result")
    assert reply.status_code == 409 and reply.json()["state"] == "FAILED"


def test_the_cli_client_submits_waits_and_shows_the_result(coordinator, tmp_path):
    def qorch(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "qorch", *args, "--url", coordinator.url],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    bell = str(REPO / "examples" / "circuits" / "bell.qasm")
    shown = qorch("submit", bell, "--shots", "300", "--wait")
    assert shown.returncode == 0, shown.stderr
    assert "estimated fidelity" in shown.stdout and "ideal-" in shown.stdout
    job_id = qorch("submit", bell, "--shots", "300").stdout.strip()
    assert job_id.startswith("job-")
    coordinator.wait([job_id])
    assert "COMPLETED" in qorch("status", job_id).stdout
    result = json.loads(qorch("result", job_id, "--json").stdout)
    assert sum(result["counts"].values()) == 300
    refused = qorch("submit", bell, "--shots", "0")
    assert refused.returncode == 2 and "shots" in refused.stderr
    unknown = qorch("status", "job-nope")
    assert unknown.returncode == 2 and "not_found" in unknown.stderr
    health = qorch("status", "--json")  # no job: the coordinator's health
    assert (
        health.returncode == 0 and json.loads(health.stdout)["checks"]["registry"]["available"] == 2
    )
    nodes = qorch("nodes", "--json")  # the coordinator's registry, not the network
    assert nodes.returncode == 0, nodes.stderr
    assert sorted(json.loads(line)["node"] for line in nodes.stdout.splitlines()) == [
        "ideal-a",
        "ideal-b",
    ]


GHZ6 = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[6];\ncreg c[6];\nh q[0];\n'
    + "".join(f"cx q[{i}],q[{i + 1}];\n" for i in range(5))
    + "measure q -> c;\n"
)


def test_the_executed_circuit_of_a_distributed_job_reproduces_the_ideal_counts(
    coordinator, tmp_path
):
    # DESIGN §6: GET .../result?include=executed gives OpenQASM 3 that qiskit reads and
    # that, simulated noiselessly and marginalised onto the input's register, is GHZ-6
    import qiskit.qasm3

    job_id = coordinator.submit(GHZ6, shots=200, seed=5)
    coordinator.wait([job_id])
    plain = coordinator.request("GET", f"/api/v1/jobs/{job_id}/result").json()
    assert "executed_qasm3" not in plain and plain["ebits"] >= 1
    full = coordinator.request("GET", f"/api/v1/jobs/{job_id}/result?include=executed").json()
    text = full["executed_qasm3"]
    assert "bit[6] c;" in text and "bit[2] ebit0;" in text and "if (ebit0[0] == true)" in text
    executed = qiskit.qasm3.loads(text)
    counts = AerSimulator(seed_simulator=1).run(executed, shots=4000).result().get_counts()
    marginal: dict[str, int] = {}
    for key, n in counts.items():
        c = key.split(" ")[-1]  # the input's register is the first, so rightmost
        marginal[c] = marginal.get(c, 0) + n
    assert set(marginal) == {"000000", "111111"}
    assert min(marginal.values()) > 1700  # 4000 shots of a fair coin
    out = tmp_path / "executed.qasm"
    shown = subprocess.run(
        [sys.executable, "-m", "qorch", "result", job_id, "--url", coordinator.url,
         "--executed", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert out.read_text() == text
