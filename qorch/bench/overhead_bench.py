"""``qorch bench overhead``: orchestration overhead per remote fragment (NFR-003, FR-006,
issue 17).

For every orchestration x transport (``distributed``/``centralized`` x every installed
transport), in one run (so the ratios hold on a noisy machine), an embedded local
cluster (one node process per node of the topology, the coordinator in this process, as
``qorch run`` uses) runs ``jobs`` random circuits of ``ops`` operations (seeded) with
that orchestration's runner, one job at a time. For each *remote* fragment (``entangle``,
``disentangle``, ``teleport``) that depends on others, the overhead is

    its start on its nodes (the earlier end's record) − its last dependency's end (the
    latest record of the dependencies)

on the nodes' own clocks (one machine): the control plane's reaction time between two
dependent steps, which both orchestrations pay in two sequential messages — the hub an
answer and a dispatch, the choreography a completion notice and the ebit handshake's
request (:data:`SEQUENTIAL_MESSAGES`). Beside it, the transport's bare request/response
round trip (``baseline_round_trips``: for libp2p two hosts and one stream with no qorch
code) is measured in the same run. Targets: over libp2p p95 <= 10 ms; for
``distributed``, p95 per sequential message <= 3x the bare round trip, and below
``centralized`` over the same transport (the requirement's floor is 300 ms). A second
figure, GHZ chains whose fragments run one at a time, shows the overhead without the
contention of a plan's independent fragments for the machine's cores.

Writes ``overhead.json`` and ``overhead.md`` under the output directory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from qorch.circuits import ghz, random_circuit
from qorch.compile.compiler import compile_circuit
from qorch.coordinator.local_cluster import local_cluster
from qorch.interfaces import Plugins
from qorch.ir import Circuit
from qorch.plan import Plan
from qorch.runtime.job import record_end, runtime_policies
from qorch.runtime.plan_runner import FragmentRun, RunOptions
from qorch.stats import median_p95, summary_ms, write_result

if TYPE_CHECKING:
    from qorch.plugins import PluginSystem

CHAIN_QUBITS = 30  # a GHZ chain across the ten nodes: its fragments run one at a time
CHAIN_JOBS = 10
TARGET_P95_MS = 10.0
TARGET_RATIO = 3.0
FLOOR_MS = 300.0  # NFR-003's requirement


#: sequential control-plane messages between a dependency's end and a remote fragment's
#: start: the hub's answer and next dispatch; the choreography's notice and ebit request
SEQUENTIAL_MESSAGES = 2


def remote_overheads(plan: Plan, runs: dict[str, FragmentRun]) -> list[float]:
    """Per remote fragment of ``plan`` with dependencies, its overhead in seconds
    (module docstring)."""
    out = []
    for f in plan.fragments:
        run = runs[f.id]
        starts = [r["started_at"] for r in run.records if r.get("started_at") is not None]
        ends = [record_end(runs[d]) for d in f.depends_on]
        if f.kind == "local" or not starts or not ends or None in ends:
            continue
        out.append(min(starts) - max(e for e in ends if e is not None))
    return out


async def _overheads(
    plugins: Plugins, registry: Any, client: Any, circuits: list[Circuit], tag: str
) -> list[float]:
    retry, timeouts = runtime_policies(plugins.settings)
    orchestration = plugins.create("orchestration")
    out: list[float] = []
    for i, circuit in enumerate(circuits):
        plan = compile_circuit(circuit, registry.snapshot(), plugins=plugins, seed=i)
        options = RunOptions(retry=retry, timeouts=timeouts, seed=i)
        runner = orchestration.runner(plan, f"{tag}-{i}", client, options, None)
        out.extend(remote_overheads(plan, await runner.run()))
    return out


async def measure(
    plugins: Plugins, topology: Path, jobs: int, ops: int, qubits: int, tmp: Path
) -> dict[str, Any]:
    """One transport: the cluster; ``jobs`` random circuits, then ``CHAIN_JOBS`` GHZ
    chains (one fragment at a time), one job after another; the overheads."""

    randoms = [random_circuit(qubits, ops, seed=i) for i in range(jobs)]
    chains = [ghz(CHAIN_QUBITS)] * CHAIN_JOBS
    async with local_cluster(topology, plugins, tmp) as (registry, client):
        overheads = await _overheads(plugins, registry, client, randoms, "random")
        chained = await _overheads(plugins, registry, client, chains, "chain")
    baseline = getattr(plugins.create("transport"), "baseline_round_trips", None)
    bare = await baseline(300) if baseline is not None else None
    row: dict[str, Any] = {
        "jobs": jobs,
        "remote_fragments": len(overheads),
        "overhead_ms": summary_ms(overheads),
        "chain_remote_fragments": len(chained),
        "chain_overhead_ms": summary_ms(chained),
    }
    if bare is not None:
        row["bare_round_trip_ms"] = summary_ms(bare)
        row["ratio_p95"] = row["overhead_ms"]["p95"] / row["bare_round_trip_ms"]["p95"]
        row["ratio_median"] = row["overhead_ms"]["median"] / row["bare_round_trip_ms"]["median"]
    return row


def run(
    plugins: PluginSystem,
    out_dir: str,
    *,
    topology: Path,
    jobs: int = 30,
    ops: int = 50,
    qubits: int = 20,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Measure every orchestration over every installed transport; write
    ``overhead.json`` and ``overhead.md``."""

    results: dict[str, Any] = {}
    for orchestration in plugins.registry.names("orchestration"):
        for name in plugins.registry.names("transport"):
            system = plugins.with_transport(name, orchestration)
            arm = f"{orchestration}/{name}"
            progress(f"{arm}: {jobs} jobs of {ops} operations on {topology.name} ...")
            with tempfile.TemporaryDirectory(prefix="qorch-bench-overhead-") as tmp:
                results[arm] = trio.run(measure, system, topology, jobs, ops, qubits, Path(tmp))
    libp2p = results.get("distributed/libp2p")
    data: dict[str, Any] = {
        "topology": topology.name,
        "operations": ops,
        "qubits": qubits,
        "target_p95_ms": TARGET_P95_MS,
        "target_ratio": TARGET_RATIO,
        "floor_ms": FLOOR_MS,
        "sequential_messages": SEQUENTIAL_MESSAGES,
        "transports": results,
    }
    if libp2p is not None:
        per_message = libp2p.get("ratio_p95", float("inf")) / SEQUENTIAL_MESSAGES
        hub = results.get("centralized/libp2p")
        data["meets_p95_target"] = libp2p["overhead_ms"]["p95"] <= TARGET_P95_MS
        data["meets_ratio_target"] = per_message <= TARGET_RATIO
        data["meets_floor"] = libp2p["overhead_ms"]["p95"] <= FLOOR_MS
        if hub is not None:
            data["below_centralized"] = libp2p["overhead_ms"]["p95"] < hub["overhead_ms"]["p95"]
    path = write_result(out_dir, "overhead", data)
    Path(out_dir, "overhead.md").write_text(markdown(data))
    return {**data, "file": str(path)}


def markdown(data: dict[str, Any]) -> str:
    """The results as a markdown table."""
    lines = [
        f"Orchestration overhead per remote fragment (ms; {data['operations']}-operation random "
        f"circuits on {data['qubits']} qubits, {data['topology']}): median / p95, from its last "
        "dependency's end to its start on the nodes' clocks "
        f"({data.get('sequential_messages', 2)} sequential messages in either orchestration). "
        f"Targets for distributed over libp2p: p95 <= {data['target_p95_ms']:g} ms, <= "
        f"{data['target_ratio']:g}x the bare round trip p95 per sequential message, and below "
        f"centralized (requirement floor {data['floor_ms']:g} ms).",
        "",
        "| orchestration/transport | remote fragments | overhead | one at a time (GHZ chain) | "
        "bare round trip | ratio p50 / p95 |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in data["transports"].items():
        bare = r.get("bare_round_trip_ms")
        lines.append(
            f"| {name} | {r['remote_fragments']} | {median_p95(r['overhead_ms'])} | "
            f"{median_p95(r['chain_overhead_ms'])} | "
            + (
                f"{median_p95(bare)} | {r['ratio_median']:.2f} / {r['ratio_p95']:.2f} |"
                if bare
                else "- | - |"
            )
        )
    if "meets_p95_target" in data:
        below = data.get("below_centralized")
        lines += [
            "",
            f"distributed/libp2p: p95 target {'met' if data['meets_p95_target'] else 'NOT met'}; "
            f"3x-bare target {'met' if data['meets_ratio_target'] else 'NOT met'}; "
            f"requirement floor {'met' if data['meets_floor'] else 'NOT met'}"
            + ("" if below is None else f"; below centralized: {'yes' if below else 'NO'}")
            + ".",
        ]
    return "\n".join(lines) + "\n"
