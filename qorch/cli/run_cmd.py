"""``qorch run FILE --topology T``: one job end to end on an embedded local cluster.

Starts one node process per topology node on 127.0.0.1, discovers them, compiles the
circuit on the live snapshot, runs it (reservations, dependency order, retries,
fallback), simulates what was executed and prints counts, estimated vs achieved
fidelity, ebits, fragments per node and timings (FR-006, FR-007, DESIGN §6). With
``--faults SCENARIO`` the scenario's faults are scheduled with ``--seed`` and start when
the cluster is up (FR-013).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from qorch.cli.app import started
from qorch.cli.arguments import EXECUTED_HELP, positive_int
from qorch.cli.boundary import run_trio
from qorch.errors import ConfigError
from qorch.ingest.load import load_circuit_as


def run(args: argparse.Namespace) -> int:
    """Run one circuit file; exit 0 on a completed job, 2 on a failed one."""
    from qorch.coordinator.local_cluster import local_cluster
    from qorch.runtime.job import JobFailed, JobRequest, run_job
    from qorch.scenarios import load_scenario
    from qorch.topology import load_topology

    with started(args, role="coordinator") as app:
        topology = load_topology(args.topology)  # every input checked before a process starts
        if args.strategy:
            app.plugins.get("placement", args.strategy)
        request = JobRequest(shots=args.shots, seed=args.seed, strategy=args.strategy)
        data = Path(args.file).read_bytes() if args.file != "-" else sys.stdin.buffer.read()
        _parser, circuit = load_circuit_as(
            data,
            plugins=app.plugins,
            limits=app.settings.limits,
            format=args.format,
            origin=args.file,
            directory=Path(args.file).parent if args.file != "-" else None,
        )

        schedule = None
        if args.faults:
            schedule = load_scenario(args.faults, app.plugins, topology, args.seed)

        async def main(tmp: Path) -> Any:
            cluster = local_cluster(Path(args.topology), app.plugins, tmp, faults=schedule)
            async with cluster as (registry, client):
                try:
                    return await run_job(
                        circuit,
                        registry.snapshot,
                        client,
                        app.plugins,
                        job_id="run-1",
                        request=request,
                    )
                except JobFailed as exc:  # returned, so the cluster shuts down cleanly
                    return exc

        with tempfile.TemporaryDirectory(prefix="qorch-run-") as tmp:
            result = run_trio(main, Path(tmp))
        if isinstance(result, JobFailed):
            if args.json:
                print(json.dumps({"file": args.file, "error": result.to_dict()}))
                return 2
            raise result
    faults = {} if schedule is None else {"faults": schedule.to_dict()["events"]}
    body = result.to_dict()
    executed = body.pop("executed_qasm3", "")
    if args.executed:
        write_executed(args.executed, executed)
    if args.json:
        print(json.dumps({"file": args.file, **body, **faults}, sort_keys=True))
        return 0
    print_result(args.file, body)
    return 0


def write_executed(path: str, text: str) -> None:
    """Write the executed circuit's OpenQASM 3 to ``path`` ('-': stdout)."""
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the executed circuit to {path}: {exc.strerror}") from None


def print_result(name: str, result: dict[str, Any]) -> None:
    """A readable table of a job result (``JobResult.to_dict()``, or the API's result)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    shots = result["shots"]
    console.print(f"[bold]{name}[/bold]: {shots} shots")
    counts = Table("outcome", "count", "share")
    top = sorted(result["counts"].items(), key=lambda kv: -kv[1])[:16]
    for outcome, n in top:
        counts.add_row(outcome, str(n), f"{n / shots:.3f}")
    console.print(counts)
    achieved = result["achieved_fidelity"]
    summary = Table("estimated fidelity", "achieved fidelity", "ebits", "fragments per node")
    summary.add_row(
        f"{result['estimated_fidelity']:.4f}",
        "-" if achieved is None else f"{achieved:.4f}",
        str(result["ebits"]),
        ", ".join(f"{n}: {c}" for n, c in result["fragments_per_node"].items()),
    )
    console.print(summary)
    console.print(
        f"wall {result['wall_ms']:.1f} ms (compile {result['compile_ms']:.1f} ms, simulated "
        f"critical path {result.get('critical_path_ms', 0.0):.4f} ms, orchestration overhead "
        f"{result['orchestration_overhead_ms']:.1f} ms); world simulation "
        f"{result.get('simulate_ms', 0.0):.1f} ms; retries {result['retries']}, "
        f"fallbacks {len(result['fallbacks'])}"
        + ("" if result["simulated"] else f"; not simulated: {result['reason']}")
    )


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch run``'s arguments (FR-006)."""
    parser.description = (
        "Start one node process per topology node, run the circuit on them and "
        "print counts, estimated vs achieved fidelity, ebits and timings (FR-006)."
    )
    parser.add_argument("file", metavar="FILE", help="circuit file; '-' reads stdin")
    parser.add_argument("--topology", required=True, metavar="T", help="topology TOML file")
    parser.add_argument("--format", default="auto", help="input format (as for `qorch parse`)")
    parser.add_argument(
        "--shots", type=positive_int, metavar="N", help="shots (default: runtime.shots)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="job seed (default 0)")
    parser.add_argument("--strategy", metavar="S", help="placement strategy")
    parser.add_argument(
        "--faults",
        metavar="SCENARIO",
        help="a fault scenario (TOML, [[faults]] tables), scheduled with --seed (FR-013)",
    )
    parser.add_argument("--json", action="store_true", help="the result as one JSON object")
    parser.add_argument("--executed", metavar="FILE", help=EXECUTED_HELP)
    parser.set_defaults(handler=run)
