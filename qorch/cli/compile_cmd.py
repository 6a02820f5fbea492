"""``qorch compile``: circuits + topology → distributed plans (FR-004).

Exit status 0 when every input compiled; 2 when any input was rejected or infeasible, or
the topology or options are invalid.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from qorch.cli.app import started
from qorch.cli.parse_cmd import read_input
from qorch.errors import QorchError


def summary(plan: Any) -> dict[str, Any]:
    """What ``--json`` prints of a plan (FR-004 fields)."""
    return {
        "strategy": plan.strategy,
        "cost_model": plan.cost_model,
        "seed": plan.seed,
        "num_qubits": plan.num_qubits,
        "num_ops": plan.num_ops,
        "fragments": [
            {
                "id": f.id,
                "kind": f.kind,
                "node": f.node,
                "nodes": list(f.nodes),
                "num_ops": len(f.ops),
                "qubits": list(f.qubits),
                "depends_on": list(f.depends_on),
                "ebits": f.ebits,
            }
            for f in plan.fragments
        ],
        "ebits": plan.ebits,
        "moves": plan.moves,
        "estimated_fidelity": plan.estimated_fidelity,
        "fidelity_estimate": plan.fidelity_estimate,
        "estimated_duration_ms": plan.estimated_duration_ms,
        "cost": plan.cost,
        "snapshot_digest": plan.snapshot_digest,
        "plan_digest": plan.digest(),
    }


def compile_file(name: str, app: Any, topology: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Parse and compile one input; the JSON-able result (summary, or ``error``)."""
    from qorch.compile.compiler import compile_circuit
    from qorch.ingest.load import load_circuit
    from qorch.stats import summary as stats

    try:
        data, directory = read_input(name, app.settings.limits.max_qasm_bytes)
        circuit = load_circuit(
            data, plugins=app.plugins, format=args.format, origin=name, directory=directory
        )
        times: list[float] = []
        for _ in range(max(1, args.repeat)):
            start = time.perf_counter()
            plan = compile_circuit(
                circuit,
                topology,
                plugins=app.plugins,
                seed=app.settings.compiler.seed if args.seed is None else args.seed,
                strategy=args.strategy,
                cost_model=args.cost_model,
                min_fidelity=args.min_fidelity,
                shots=args.shots or app.settings.runtime.shots,
            )
            times.append((time.perf_counter() - start) * 1000)
    except OSError as exc:
        return {"file": name, "error": {"kind": "io", "message": exc.strerror or str(exc)}}
    except QorchError as exc:
        return {"file": name, "error": exc.to_dict()}
    out = {"file": name, **summary(plan)}
    if args.repeat > 1:
        s = stats(times)
        out["compile_ms"] = {"p50": s["median"], "p95": s["p95"], "n": s["n"]}
    else:
        out["compile_ms"] = times[0]
    if args.full:
        out["plan"] = plan.to_dict()
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``qorch compile``."""
    from qorch.topology import load_topology

    if args.repeat < 1:
        print("error: --repeat must be at least 1")
        return 2
    with started(args) as app:
        for kind, name in (("placement", args.strategy), ("cost_model", args.cost_model)):
            if name is not None:
                app.plugins.get(kind, name)  # unknown names fail before any work
        topology = load_topology(args.topology)
        results = [compile_file(f, app, topology, args) for f in args.files]
    if args.json:
        for r in results:
            print(json.dumps(r))
    else:
        _print(results)
    return 2 if any("error" in r for r in results) else 0


def _print(results: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="plans", title_justify="left")
    for col in ("file", "strategy", "qubits", "frags", "ebits", "est. fidelity", "ms"):
        table.add_column(
            col, overflow="fold", justify="left" if col in ("file", "strategy") else "right"
        )
    for r in results:
        name = r["file"].rsplit("/", 1)[-1]
        if "error" in r:
            table.add_row(name, f"[red]{r['error']['kind']}[/red]", "", "", "", "", "")
            continue
        ms = r["compile_ms"]
        ms_text = f"{ms['p50']:.1f}" if isinstance(ms, dict) else f"{ms:.1f}"
        table.add_row(
            name,
            r["strategy"],
            str(r["num_qubits"]),
            str(len(r["fragments"])),
            str(r["ebits"]),
            f"{r['estimated_fidelity']:.4f}",
            ms_text,
        )
    console.print(table)
    for r in results:
        if "error" in r:
            console.print(
                f"[red]{r['file']}: {r['error']['kind']}:[/red] {r['error']['message']}",
                highlight=False,
            )
