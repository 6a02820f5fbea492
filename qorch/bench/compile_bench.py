"""``qorch bench compile``: compile latency and ebits (FR-004, NFR-003; not a test).

Writes ``compile.json`` (every number) and ``compile.md`` (the tables) to the results
directory:

* **latency, small**: circuits of <= 50 operations on 10 nodes (the 10-node small-world
  example and 10 all-to-all QPUs), every installed strategy; p50/p95 over repeats
  (target p95 <= 10 ms; NFR-003's floor is 2 s).
* **latency, large**: 1,000 random gates on 50 QPUs with the default strategy (target
  p95 <= 500 ms).
* **ebits vs DISQCO**: QFT-29 on 2/3/4 all-to-all QPUs and QAOA-16 on 2, beside the
  numbers DISQCO publishes (14 / 28 / 39 and 7).
* **ebits sweep**: QFT, GHZ, QAOA and random circuits of 6-16 qubits on 2-4 all-to-all
  QPUs of capacity ceil(n/k)+1, every strategy, with geometric means.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qorch.circuits import ghz, qaoa, qft, qft_cx, random_circuit, uniform
from qorch.compile.compiler import compile_circuit
from qorch.interfaces import Plugins
from qorch.stats import summary, write_result
from qorch.topology import load_topology

if TYPE_CHECKING:
    from qorch.plugins import PluginSystem

DISQCO = {
    ("qft", 29, 2): 14,
    ("qft", 29, 3): 28,
    ("qft", 29, 4): 39,
    ("qft_cx", 29, 2): 14,
    ("qft_cx", 29, 3): 28,
    ("qft_cx", 29, 4): 39,
    ("qaoa", 16, 2): 7,
}
REPO = Path(__file__).resolve().parents[2]


def _time(circuit: Any, topology: Any, plugins: Plugins, strategy: str, repeats: int) -> dict:
    compile_circuit(circuit, topology, plugins=plugins, strategy=strategy)  # warm caches
    times: list[float] = []
    for seed in range(repeats):
        start = time.perf_counter()
        plan = compile_circuit(circuit, topology, plugins=plugins, strategy=strategy, seed=seed)
        times.append((time.perf_counter() - start) * 1000)
    s = summary(times)
    return {
        "p50_ms": s["median"],
        "p95_ms": s["p95"],
        "n": s["n"],
        "ebits": plan.ebits,
        "ops": len(circuit.operations),
    }


def _family(name: str, n: int) -> Any:
    if name == "qft":
        return qft(n)
    if name == "qft_cx":
        return qft_cx(n)
    if name == "ghz":
        return ghz(n)
    if name == "qaoa":
        return qaoa(n, seed=n)
    return random_circuit(n, 4 * n, seed=n)


def run(plugins: PluginSystem, out_dir: str, quick: bool = False, progress: Any = print) -> dict:
    """Run every section; write ``compile.json`` and ``compile.md``; return the numbers."""
    strategies = plugins.registry.names("placement")
    repeats = 10 if quick else 40
    results: dict[str, Any] = {"strategies": strategies, "repeats": repeats}

    small_world = load_topology(REPO / "examples" / "topologies" / "small-world-10.toml")
    small = {
        "qft7": qft(7),
        "ghz20": ghz(20),
        "qaoa8": qaoa(8, seed=1),
        "random10x36": random_circuit(10, 36, seed=3),
    }
    rows = []
    for topo_name, topology in (("small-world-10", small_world),):
        for cname, circuit in small.items():
            for s in strategies:
                progress(f"latency {cname} on {topo_name} with {s}")
                rows.append(
                    {
                        "circuit": cname,
                        "topology": topo_name,
                        "strategy": s,
                        **_time(circuit, topology, plugins, s, repeats),
                    }
                )
    for cname, circuit in small.items():
        k = 10
        topology = uniform(k, math.ceil(circuit.num_qubits / k) + 1)
        for s in strategies:
            progress(f"latency {cname} on 10 all-to-all with {s}")
            rows.append(
                {
                    "circuit": cname,
                    "topology": "all-to-all-10",
                    "strategy": s,
                    **_time(circuit, topology, plugins, s, repeats),
                }
            )
    results["latency_small"] = rows

    big = random_circuit(60, 940, seed=5)  # 940 gates + 60 measurements = 1,000 operations
    big_topology = uniform(50, 2)
    results["latency_large"] = []
    for s in ("greedy", plugins.settings.compiler.placement):
        progress(f"latency 1000 ops on 50 nodes with {s}")
        results["latency_large"].append(
            {
                "circuit": "random60x1000",
                "topology": "all-to-all-50",
                "strategy": s,
                **_time(big, big_topology, plugins, s, 3 if quick else 8),
            }
        )

    disqco = []
    for (family, n, k), published in DISQCO.items():
        topology = uniform(k, math.ceil(n / k) + 1)
        row = {
            "circuit": f"{family}{n}",
            "qpus": k,
            "capacity": math.ceil(n / k) + 1,
            "disqco": published,
        }
        for s in strategies:
            progress(f"ebits {family}{n} on {k} QPUs with {s}")
            row[s] = compile_circuit(
                _family(family, n), topology, plugins=plugins, strategy=s, seed=0
            ).ebits
        disqco.append(row)
    results["ebits_disqco"] = disqco

    sweep: list[dict[str, Any]] = []
    sizes = (6, 10, 16) if quick else (6, 8, 10, 12, 14, 16)
    for family in ("qft", "ghz", "qaoa", "random"):
        for n in sizes:
            for k in (2, 3, 4):
                topology = uniform(k, math.ceil(n / k) + 1)
                row = {"circuit": f"{family}{n}", "qpus": k}
                for s in strategies:
                    row[s] = compile_circuit(
                        _family(family, n), topology, plugins=plugins, strategy=s, seed=0
                    ).ebits
                sweep.append(row)
        progress(f"ebits sweep {family}")
    results["ebits_sweep"] = sweep
    results["geomean_ebits"] = {
        s: math.exp(sum(math.log(max(r[s], 1)) for r in sweep) / len(sweep)) for s in strategies
    }
    write_result(out_dir, "compile", results)
    (Path(out_dir) / "compile.md").write_text(markdown(results))
    return results


def markdown(r: dict) -> str:
    """The result tables as markdown."""
    strategies = r["strategies"]
    out = [
        "# Compile benchmark",
        "",
        f"Repeats per latency cell: {r['repeats']}.",
        "",
        "## Latency, circuits of <= 50 operations on 10 nodes (target p95 <= 10 ms)",
        "",
        "| circuit | ops | topology | strategy | p50 ms | p95 ms | ebits |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in r["latency_small"]:
        out.append(
            f"| {row['circuit']} | {row['ops']} | {row['topology']} | {row['strategy']} | "
            f"{row['p50_ms']:.2f} | {row['p95_ms']:.2f} | {row['ebits']} |"
        )
    out += [
        "",
        "## Latency, 1,000 operations on 50 nodes (target p95 <= 500 ms)",
        "",
        "| circuit | strategy | p50 ms | p95 ms | ebits |",
        "|---|---|---|---|---|",
    ]
    for row in r["latency_large"]:
        out.append(
            f"| {row['circuit']} | {row['strategy']} | {row['p50_ms']:.1f} | "
            f"{row['p95_ms']:.1f} | {row['ebits']} |"
        )
    out += [
        "",
        "## Ebits beside DISQCO's published numbers (all-to-all, capacity ceil(n/k)+1)",
        "",
        "| circuit | QPUs | DISQCO | " + " | ".join(strategies) + " |",
        "|---|---|---|" + "---|" * len(strategies),
    ]
    for row in r["ebits_disqco"]:
        out.append(
            f"| {row['circuit']} | {row['qpus']} | {row['disqco']} | "
            + " | ".join(str(row[s]) for s in strategies)
            + " |"
        )
    out += [
        "",
        "## Ebits sweep (6-16 qubits, 2-4 all-to-all QPUs, capacity ceil(n/k)+1)",
        "",
        "| circuit | QPUs | " + " | ".join(strategies) + " |",
        "|---|---|" + "---|" * len(strategies),
    ]
    for row in r["ebits_sweep"]:
        out.append(
            f"| {row['circuit']} | {row['qpus']} | "
            + " | ".join(str(row[s]) for s in strategies)
            + " |"
        )
    out += [
        "",
        "Geometric mean of ebits (zeros counted as 1): "
        + ", ".join(f"{s} {v:.2f}" for s, v in r["geomean_ebits"].items()),
        "",
    ]
    return "\n".join(out)
