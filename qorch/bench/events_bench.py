"""``qorch bench events``: what websocket followers cost a running experiment (FR-009).

Against one ``qorch up`` child process on 127.0.0.1, jobs run one after another; each
job's latency is the time from its creation to its completion by the coordinator's clock
(``created_at`` to ``updated_at``); a measuring client on ``/api/v1/events`` waits for
its ``COMPLETED`` event before submitting the next. Rounds alternate between *quiet* (that client
only) and *followed* (``clients`` more websocket clients in a separate process following
``/api/v1/events`` and reading every event), so drift on a noisy machine hits both
alike. The result is the ratio of the followed median latency to the quiet one
(target <= 1.10: 50 followers add at most 10 %).

Numbers go to ``bench/results/events.json`` and ``events.md`` with the machine and commit.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import trio
from trio_websocket import open_websocket_url

from qorch.circuits import ghz
from qorch.coordinator.events import decode
from qorch.coordinator.process import CoordinatorProcess
from qorch.harness.suite import measure_all
from qorch.qasm_emit import to_qasm2
from qorch.stats import summary, write_result
from qorch.topology import load_topology

TARGET_RATIO = 1.10
GHZ = to_qasm2(measure_all(ghz(5)))


async def _timed_jobs(url: str, jobs: int, seed: int) -> list[float]:
    """Run ``jobs`` jobs one at a time; their submit-to-COMPLETED-event latencies (ms)."""

    out = []
    ws_url = url.replace("http://", "ws://") + "/api/v1/events"
    async with open_websocket_url(ws_url) as ws, httpx.AsyncClient(timeout=60.0) as http:
        await ws.get_message()  # the snapshot
        for i in range(jobs):
            reply = await http.post(
                url + "/api/v1/circuits/submit",
                json={"qasm": GHZ, "shots": 200, "seed": seed + i},
            )
            job_id = reply.json()["job_id"]
            with trio.fail_after(120):
                while not any(
                    e.get("job_id") == job_id and e.get("new") in ("COMPLETED", "FAILED")
                    for e in decode(await ws.get_message())
                ):
                    pass
            # the job's own latency, by the coordinator's clock: event delivery (and its
            # coalescing) is not part of it
            view = (await http.get(f"{url}/api/v1/jobs/{job_id}")).json()
            created = dt.datetime.fromisoformat(view["created_at"])
            ended = dt.datetime.fromisoformat(view["updated_at"])
            out.append((ended - created).total_seconds() * 1000)
    return out


async def follow(url: str, clients: int, ready_file: Path) -> None:
    """``clients`` websocket clients reading ``/api/v1/events`` until killed (the
    followers' process); ``ready_file`` is written once all are connected."""

    ws_url = url.replace("http://", "ws://") + "/api/v1/events"
    connected = 0

    async def one() -> None:
        nonlocal connected
        async with open_websocket_url(ws_url) as ws:
            connected += 1
            if connected == clients:
                ready_file.write_text("ready")
            while True:
                await ws.get_message()

    async with trio.open_nursery() as nursery:
        for _ in range(clients):
            nursery.start_soon(one)


def _start_followers(url: str, clients: int, tmp: Path) -> subprocess.Popen[bytes]:
    ready = tmp / f"followers-{time.monotonic_ns()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "qorch.bench.events_bench", url, str(clients), str(ready)]
    )
    end = time.monotonic() + 60
    while not ready.exists():
        if time.monotonic() > end or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"{clients} websocket followers did not connect")
        time.sleep(0.05)
    return proc


def run(
    out_dir: str,
    *,
    topology: Path,
    clients: int = 50,
    rounds: int = 3,
    jobs: int = 10,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The alternating rounds; the written record."""
    quiet: list[float] = []
    followed: list[float] = []
    with tempfile.TemporaryDirectory(prefix="qorch-bench-events-") as tmp_name:
        tmp = Path(tmp_name)
        coord = CoordinatorProcess(["up", "--topology", str(topology)], tmp / "data").start()
        try:
            coord.wait_for_nodes(len(_node_names(topology)))
            trio.run(_timed_jobs, coord.url, 2, 10_000)  # warm up
            for r in range(rounds):
                progress(f"round {r + 1}/{rounds}: quiet ...")
                quiet += trio.run(_timed_jobs, coord.url, jobs, r * 100)
                progress(f"round {r + 1}/{rounds}: {clients} followers ...")
                followers = _start_followers(coord.url, clients, tmp)
                try:
                    followed += trio.run(_timed_jobs, coord.url, jobs, r * 100 + 50)
                finally:
                    followers.send_signal(signal.SIGKILL)
                    followers.wait(30)
        finally:
            coord.kill(signal.SIGTERM)
    q, f = summary(quiet), summary(followed)
    data = {
        "clients": clients,
        "rounds": rounds,
        "jobs_per_round": jobs,
        "topology": str(topology),
        "quiet_ms": q,
        "followed_ms": f,
        "ratio_median": f["median"] / q["median"],
        "target_ratio": TARGET_RATIO,
        "meets_target": f["median"] / q["median"] <= TARGET_RATIO,
    }
    path = write_result(out_dir, "events", data)
    Path(out_dir, "events.md").write_text(markdown(data) + "\n")
    return {**data, "file": str(path)}


def _node_names(topology: Path) -> list[str]:

    return [n.name for n in load_topology(topology).nodes]


def markdown(data: dict[str, Any]) -> str:
    """The results as markdown."""
    q, f = data["quiet_ms"], data["followed_ms"]
    return "\n".join(
        [
            "| condition | jobs | median ms | p95 ms |",
            "|---|---|---|---|",
            f"| 1 client following | {q['n']} | {q['median']:.1f} | {q['p95']:.1f} |",
            f"| {data['clients']} + 1 clients following | {f['n']} | {f['median']:.1f} "
            f"| {f['p95']:.1f} |",
            "",
            f"Median ratio {data['ratio_median']:.3f} (target <= {data['target_ratio']}: "
            f"{'met' if data['meets_target'] else 'NOT met'}).",
        ]
    )


if __name__ == "__main__":  # the followers' process
    trio.run(follow, sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
