"""``qorch run`` end to end on a local cluster of real node processes (FR-006, DESIGN §6)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def qorch_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qorch", "run", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.slow
def test_a_ghz_state_across_ideal_nodes_comes_back_ideal():
    done = qorch_run(
        str(EXAMPLES / "circuits" / "ghz5.qasm"),
        "--topology",
        str(EXAMPLES / "topologies" / "noiseless-two-nodes.toml"),
        "--shots",
        "2000",
        "--strategy",
        "greedy",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result["counts"]) == {"00000", "11111"} and sum(result["counts"].values()) == 2000
    assert result["achieved_fidelity"] >= 0.99
    assert result["estimated_fidelity"] == pytest.approx(1.0, abs=1e-3)  # shot noise only
    assert all(f["status"] == "ok" for f in result["fragments"])
    assert result["orchestration_overhead_ms"] > 0 and result["fallbacks"] == []


def test_a_circuit_no_plan_fits_fails_with_the_reason_and_exit_2(tmp_path):
    big = tmp_path / "big.qasm"
    big.write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[40];\ncreg c[1];\nh q[0];\n')
    done = qorch_run(str(big), "--topology", str(EXAMPLES / "topologies" / "two-nodes.toml"))
    assert done.returncode == 2
    error = json.loads(done.stdout)["error"]
    assert error["kind"] == "job_failed" and "needs 40 qubits" in error["message"]
    assert "Traceback" not in done.stderr
