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
from qorch.cli.job_output import print_result, write_executed
from qorch.coordinator.local_cluster import local_cluster
from qorch.errors import UsageError
from qorch.ingest.load import load_circuit_as
from qorch.runtime.job import JobFailed, JobOptions, JobRequest, run_job
from qorch.scenarios import load_scenario
from qorch.topology import load_topology


def run(args: argparse.Namespace) -> int:
    """Run one circuit file; exit 0 on a completed job, 2 on a failed one."""

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
            if any(e.kind == "coordinator-crash" for e in schedule.events):
                raise UsageError(
                    f"{args.faults}: coordinator-crash needs a coordinator process of its own; "
                    "qorch run embeds its coordinator (use a suite: qorch bench run)"
                )

        async def main(tmp: Path) -> Any:
            cluster = local_cluster(Path(args.topology), app.plugins, tmp, faults=schedule)
            async with cluster as (registry, client):
                try:
                    return await run_job(
                        circuit,
                        registry.snapshot,
                        client,
                        app.plugins,
                        JobOptions("run-1", request),
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
