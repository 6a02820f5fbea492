"""``qorch bench api``: the coordinator service's job API under load (FR-009, NFR-003).

Two runs against ``qorch up`` child processes on 127.0.0.1:

* **submit latency** — nodes slowed (``[node] time_scale``) and one job at a time, so
  the queue fills; after ``queued`` submissions, the time of each further
  ``POST /api/v1/circuits/submit`` until its 202 (target p95 <= 20 ms with 100 queued);
* **throughput** — ``jobs`` random circuits of ``ops`` operations on the ten-node
  example topology, default concurrency: jobs completed per second from the first
  submission to the last completion (target >= 20 jobs/s for 50 operations on 10 nodes).

Numbers go to ``bench/results/api.json`` and ``api.md`` with the machine and commit.
"""

from __future__ import annotations

import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qorch.circuits import random_circuit
from qorch.coordinator.process import CoordinatorProcess
from qorch.qasm_emit import to_qasm2
from qorch.stats import summary, write_result

TARGET_SUBMIT_P95_MS = 20.0
TARGET_JOBS_PER_S = 20.0


def submit_latency(topology: Path, queued: int, timed: int, tmp: Path, qasm: str) -> dict[str, Any]:
    """Submit ``queued`` jobs to a busy coordinator, then time ``timed`` more."""
    env = {"QORCH_COORDINATOR__CONCURRENCY": "1", "QORCH_NODE__TIME_SCALE": "100000000"}
    proc = CoordinatorProcess(["up", "--topology", str(topology)], tmp / "latency", env).start()
    try:
        for _ in range(queued):
            proc.submit(qasm, shots=10)
        times = []
        for _ in range(timed):
            start = time.perf_counter()
            proc.submit(qasm, shots=10)
            times.append((time.perf_counter() - start) * 1000)
        waiting = proc.request("GET", "/health").json()["queued"]
    finally:
        proc.kill(signal.SIGTERM)
    return {"queued_before": queued, "queued_at_end": waiting, "submit_ms": summary(times)}


def throughput(topology: Path, jobs: int, ops: int, tmp: Path) -> dict[str, Any]:
    """Jobs per second end to end for random ``ops``-operation circuits."""
    proc = CoordinatorProcess(["up", "--topology", str(topology)], tmp / "throughput").start()
    try:
        sources = [to_qasm2(random_circuit(8, ops, seed=i)) for i in range(jobs)]
        start = time.perf_counter()
        ids = [proc.submit(s, shots=100, seed=i) for i, s in enumerate(sources)]
        ended = proc.wait(ids, timeout=600)
        elapsed = time.perf_counter() - start
    finally:
        proc.kill(signal.SIGTERM)
    completed = sum(s["state"] == "COMPLETED" for s in ended.values())
    return {
        "jobs": jobs,
        "operations": ops,
        "completed": completed,
        "seconds": elapsed,
        "jobs_per_s": completed / elapsed,
    }


def run(
    out_dir: str,
    *,
    small: Path,
    large: Path,
    queued: int = 100,
    timed: int = 200,
    jobs: int = 60,
    ops: int = 50,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Both runs; the written record."""
    qasm = to_qasm2(random_circuit(4, 20, seed=0))
    with tempfile.TemporaryDirectory(prefix="qorch-bench-api-") as tmp:
        progress(f"submit latency with {queued} jobs queued ...")
        latency = submit_latency(small, queued, timed, Path(tmp), qasm)
        progress(f"throughput of {jobs} jobs of {ops} operations on {large.name} ...")
        rate = throughput(large, jobs, ops, Path(tmp))
    data = {
        "submit": latency,
        "throughput": rate,
        "target_submit_p95_ms": TARGET_SUBMIT_P95_MS,
        "target_jobs_per_s": TARGET_JOBS_PER_S,
        "meets_submit_target": latency["submit_ms"]["p95"] <= TARGET_SUBMIT_P95_MS,
        "meets_throughput_target": rate["jobs_per_s"] >= TARGET_JOBS_PER_S,
    }
    path = write_result(out_dir, "api", data)
    Path(out_dir, "api.md").write_text(markdown(data) + "\n")
    return {**data, "file": str(path)}


def markdown(data: dict[str, Any]) -> str:
    """The results as markdown."""
    s, t = data["submit"]["submit_ms"], data["throughput"]
    return "\n".join(
        [
            "| measure | value | target | met |",
            "|---|---|---|---|",
            f"| submit → 202, {data['submit']['queued_before']} queued: median / p95 | "
            f"{s['median']:.1f} / {s['p95']:.1f} ms | p95 <= {data['target_submit_p95_ms']} ms "
            f"| {'yes' if data['meets_submit_target'] else 'NO'} |",
            f"| end to end, {t['jobs']} jobs of {t['operations']} operations, 10 nodes | "
            f"{t['jobs_per_s']:.1f} jobs/s ({t['completed']} completed in {t['seconds']:.1f} s)"
            f" | >= {data['target_jobs_per_s']} jobs/s "
            f"| {'yes' if data['meets_throughput_target'] else 'NO'} |",
        ]
    )
