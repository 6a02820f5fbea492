"""``qorch bench estimator``: how far the fidelity estimate is from the fidelity reached
(FR-004, DESIGN §6; not a test).

Every QASMBench circuit of 2 to ``max_qubits`` qubits (read in place from
``../shared/corpus/qasmbench``) is compiled and its plan simulated, with planned idle
times, on two topologies: the four-heterogeneous example, and *small nodes* — three
nodes of ``ceil(n/3) + 1`` qubits on a line, with the example's superconducting noise and
coherence, so every plan must distribute. Circuits of more than :data:`MAX_OPS` prepared
operations are listed as skipped. Per circuit it records the estimate, the
achieved fidelity, |difference|, ebits and how the estimate was made; the summary gives
mean and max |difference| **separately for plans with ebits and without** (target: mean
<= 0.03 on both), with n. Writes ``estimator.json`` (every row) and ``estimator.md``.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from qorch.compile.compiler import InfeasibleError, compile_circuit
from qorch.compile.prepare import prepare
from qorch.errors import CircuitError
from qorch.ingest.load import load_circuit
from qorch.interfaces import Plugins
from qorch.runtime.world import planned_timing, simulate
from qorch.stats import write_result
from qorch.topology import Topology, load_topology, topology_from_dict

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus" / "qasmbench"
GATES = {"x": 0.9995, "sx": 0.9995, "rz": 1.0, "h": 0.999, "cx": 0.99, "cz": 0.99}
GATES["measure"] = 0.98
#: circuits of more prepared operations are skipped (minutes of trajectories each)
MAX_OPS = 600


def small_nodes(n: int) -> Topology:
    """Three nodes of ceil(n/3)+1 qubits on a line: every plan distributes."""
    size = math.ceil(n / 3) + 1
    nodes = [
        {"name": f"s{i}", "qubits": size, "gates": GATES, "t1_us": 1e7, "t2_us": 5e6}
        for i in range(3)
    ]
    links = [{"a": "s0", "b": "s1", "fidelity": 0.97, "latency_ms": 2.0}]
    links.append({"a": "s1", "b": "s2", "fidelity": 0.97, "latency_ms": 2.0})
    return topology_from_dict({"nodes": nodes, "links": links})


def corpus(plugins: Plugins, directory: Path, max_qubits: int) -> list[tuple[str, Any]]:
    """The measured corpus circuits of 2..max_qubits qubits, by name (QASMBench's
    ``_transpiled`` copies of the same circuits left out)."""
    out = []
    for path in sorted(directory.rglob("*.qasm")):
        if path.stem.endswith("_transpiled"):
            continue
        try:
            circuit = load_circuit(path.read_bytes(), plugins=plugins, directory=path.parent)
        except CircuitError:
            continue
        if 2 <= circuit.num_qubits <= max_qubits and circuit.num_clbits:
            out.append((path.stem, circuit))
    return out


def _row(
    name: str, circuit: Any, topo_name: str, topology: Topology, plugins: Plugins, shots: int
) -> dict[str, Any]:

    ops = len(prepare(circuit).ops)
    if ops > MAX_OPS:
        return {"circuit": name, "topology": topo_name, "skipped": f"{ops} operations"}

    try:
        plan = compile_circuit(circuit, topology, plugins=plugins, seed=1, shots=shots)
    except InfeasibleError as exc:
        return {"circuit": name, "topology": topo_name, "skipped": str(exc)[:120]}
    world = simulate(circuit, plan, topology, shots=shots, seed=7, timing=planned_timing(plan))
    if not world.simulated:
        return {"circuit": name, "topology": topo_name, "skipped": world.reason}
    achieved = world.achieved_fidelity
    assert achieved is not None  # a simulated world has it
    return {
        "circuit": name,
        "topology": topo_name,
        "qubits": circuit.num_qubits,
        "ebits": plan.ebits,
        "estimate_method": plan.fidelity_estimate,
        "estimated": plan.estimated_fidelity,
        "achieved": achieved,
        "error": abs(plan.estimated_fidelity - achieved),
    }


def run(
    plugins: Plugins,
    out_dir: str,
    *,
    max_qubits: int = 12,
    shots: int = 1000,
    directory: Path = CORPUS,
    progress: Any = print,
) -> dict[str, Any]:
    """Measure every circuit on both topologies; write the results."""
    four = load_topology(REPO / "examples" / "topologies" / "four-heterogeneous.toml")
    rows = []
    circuits = corpus(plugins, directory, max_qubits)
    for i, (name, circuit) in enumerate(circuits):
        for topo_name, topology in (
            ("four-heterogeneous", four),
            ("small-nodes", small_nodes(circuit.num_qubits)),
        ):
            rows.append(_row(name, circuit, topo_name, topology, plugins, shots))
            progress(f"{i + 1}/{len(circuits)} {name} on {topo_name}: {_short(rows[-1])}")
    data = {"shots": shots, "max_qubits": max_qubits, "rows": rows, "summary": summarize(rows)}
    path = write_result(out_dir, "estimator", data)
    data["file"] = str(path)
    Path(out_dir, "estimator.md").write_text(markdown(data) + "\n")
    return data


def _short(row: dict[str, Any]) -> str:
    if "skipped" in row:
        return f"skipped ({row['skipped']})"
    return f"estimated {row['estimated']:.3f}, achieved {row['achieved']:.3f}, ebits {row['ebits']}"


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and max |estimate - achieved| per topology and per ebits/no ebits."""
    out = []
    done = [r for r in rows if "error" in r]
    for topo in sorted({r["topology"] for r in done}):
        for group, keep in (
            ("with ebits", lambda r: r["ebits"] > 0),
            ("no ebits", lambda r: r["ebits"] == 0),
        ):
            errors = [r["error"] for r in done if r["topology"] == topo and keep(r)]
            if errors:
                out.append(
                    {
                        "topology": topo,
                        "plans": group,
                        "n": len(errors),
                        "mean_error": statistics.fmean(errors),
                        "max_error": max(errors),
                        "within_0.03": statistics.fmean(errors) <= 0.03,
                    }
                )
    return out


def markdown(data: dict[str, Any]) -> str:
    """The summary table."""
    lines = [
        f"QASMBench circuits of 2-{data['max_qubits']} qubits, {data['shots']} shots, "
        "planned idle times; |estimated - achieved fidelity|:",
        "",
        "| topology | plans | n | mean | max |",
        "|---|---|---|---|---|",
    ]
    for s in data["summary"]:
        lines.append(
            f"| {s['topology']} | {s['plans']} | {s['n']} | {s['mean_error']:.4f} | "
            f"{s['max_error']:.4f} |"
        )
    skipped = [r for r in data["rows"] if "skipped" in r]
    if skipped:
        lines += [
            "",
            f"{len(skipped)} (circuit, topology) pairs skipped (no plan or not simulated).",
        ]
    return "\n".join(lines)
