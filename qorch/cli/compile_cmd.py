"""``qorch compile``: circuits + topology → distributed plans (FR-004).

Exit status 0 when every input compiled; 2 when any input was rejected or infeasible, or
the topology or options are invalid.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from qorch.cli.app import started
from qorch.cli.arguments import positive_int
from qorch.cli.parse_cmd import read_input
from qorch.compile.compiler import compile_circuit
from qorch.errors import QorchError
from qorch.ingest.load import load_circuit
from qorch.stats import summary as stats
from qorch.topology import load_topology


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


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch compile``'s arguments (FR-004)."""
    parser.description = "Compile circuits for a topology (FR-004)."
    parser.add_argument("files", nargs="+", metavar="FILE", help="circuit files; '-' reads stdin")
    parser.add_argument("--topology", required=True, metavar="TOPO", help="topology TOML file")
    parser.add_argument("--format", default="auto", help="input format (as for `qorch parse`)")
    parser.add_argument(
        "--seed", type=int, metavar="N", help="search seed (default: compiler.seed)"
    )
    parser.add_argument(
        "--strategy", metavar="S", help="placement strategy (default: compiler.placement)"
    )
    parser.add_argument(
        "--cost-model", metavar="M", help="cost model (default: compiler.cost_model)"
    )
    parser.add_argument(
        "--min-fidelity",
        type=float,
        metavar="F",
        help="lowest gate and link fidelity accepted (default: compiler.min_fidelity)",
    )
    parser.add_argument(
        "--shots",
        type=positive_int,
        metavar="N",
        help="shots the fidelity estimate predicts for (default: runtime.shots)",
    )
    parser.add_argument(
        "--json", action="store_true", help="one plan summary per input (JSON Lines)"
    )
    parser.add_argument("--full", action="store_true", help="with --json: include the whole plan")
    parser.add_argument(
        "--repeat",
        type=positive_int,
        default=1,
        metavar="N",
        help="compile N times and report compile_ms as {p50, p95, n}",
    )
    parser.set_defaults(handler=run)
