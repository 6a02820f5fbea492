"""``qorch bench ...``: run a benchmark and print where its numbers were written."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from qorch.bench import api_bench as api_results
from qorch.bench import events_bench as events_results
from qorch.bench.api_bench import run as api_bench
from qorch.bench.cli_startup import run as cli_startup
from qorch.bench.compile_bench import run as compile_bench
from qorch.bench.events_bench import run as events_bench
from qorch.bench.nfr_bench import run as nfr_bench
from qorch.cli.app import started
from qorch.cli.arguments import positive_int
from qorch.harness.suite import load_suite
from qorch.harness.suite_runner import run_suite


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmark."""
    if args.action == "cli-startup":
        if args.runs < 1:
            print("error: --runs must be at least 1")
            return 2
        data = cli_startup(args.runs, args.out)
        h = data["qorch_help"]
        print(
            f"qorch --help: median {h['median'] * 1000:.0f} ms, p95 {h['p95'] * 1000:.0f} ms "
            f"over {h['n']} runs ({data['ratio_median']:.1f}x a bare python start); "
            f"target p95 < {data['target_p95']} s: "
            f"{'met' if data['meets_target'] else 'NOT met'}"
        )
        print(f"written to {data['file']}")
    elif args.action == "compile":
        with started(args, role="bench") as app:
            results = compile_bench(app.plugins, args.out, quick=args.quick, progress=_progress)
        print(
            "geometric mean ebits: "
            + ", ".join(f"{s} {v:.2f}" for s, v in results["geomean_ebits"].items())
        )
        print(f"written to {args.out}/compile.json and {args.out}/compile.md")
    elif args.action == "transport":
        if args.n < 1:
            print("error: --n must be at least 1")
            return 2
        _with_plugins(args, "transport", n=args.n, topology=Path(args.topology))
    elif args.action == "api":
        data = api_bench(
            args.out,
            small=Path("examples/topologies/two-nodes.toml"),
            large=Path(args.topology),
            jobs=args.jobs,
            progress=_progress,
        )
        _written(api_results.markdown(data), data["file"], args.out, "api")
    elif args.action == "events":
        if args.clients < 1 or args.rounds < 1:
            print("error: --clients and --rounds must be at least 1")
            return 2
        data = events_bench(
            args.out,
            topology=Path("examples/topologies/two-nodes.toml"),
            clients=args.clients,
            rounds=args.rounds,
            progress=_progress,
        )
        _written(events_results.markdown(data), data["file"], args.out, "events")
    elif args.action == "nfr":
        if args.jobs < 1:
            print("error: --jobs must be at least 1")
            return 2

        with started(args, role="bench") as app:
            data = nfr_bench(
                app.plugins,
                args.out,
                topology=Path(args.topology),
                report=Path(args.report),
                jobs=args.jobs,
                progress=_progress,
            )
        print(f"written to {data['file']} and {data['report']}")
    elif args.action == "run":
        with started(args, role="bench") as app:
            suite = load_suite(args.suite, app.plugins)
            done = run_suite(suite, app.plugins, Path(args.out), progress=not args.no_progress)
        print(f"{done['ran']} run(s), {done['skipped']} already done; report: {done['report']}")
    elif args.action in ("world", "estimator"):
        return _simulation_bench(args)
    elif args.action == "overhead":
        if args.jobs < 1:
            print("error: --jobs must be at least 1")
            return 2
        _with_plugins(args, "overhead", jobs=args.jobs, topology=Path(args.topology))
    return 0


def _simulation_bench(args: argparse.Namespace) -> int:
    """``qorch bench world`` and ``qorch bench estimator`` (the world simulator's cost and
    the fidelity estimator's error)."""
    if args.action == "world":
        if args.runs < 1:
            print("error: --runs must be at least 1")
            return 2
        _with_plugins(
            args, "world", written=f"world-{args.qubits}", runs=args.runs, qubits=args.qubits
        )
        return 0
    if args.max_qubits < 2 or args.shots < 1:
        print("error: --max-qubits must be at least 2 and --shots at least 1")
        return 2
    _with_plugins(args, "estimator", max_qubits=args.max_qubits, shots=args.shots)
    return 0


def _progress(message: str) -> None:
    print(message, flush=True)


def _written(table: str, path: str, out: str, name: str) -> None:
    print(table)
    print(f"written to {path} and {out}/{name}.md")


def _with_plugins(
    args: argparse.Namespace, name: str, written: str | None = None, **options: object
) -> None:
    """Run ``qorch.bench.<name>_bench.run(plugins, out, ...)``; print its table (its file
    is ``<written or name>.md``)."""

    module = importlib.import_module(f"qorch.bench.{name}_bench")
    with started(args, role="bench") as app:
        data = module.run(app.plugins, args.out, progress=_progress, **options)
    _written(module.markdown(data), data["file"], args.out, written or name)


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch bench BENCHMARK``: each benchmark and its options."""
    benchmarks = parser.add_subparsers(dest="action", metavar="BENCHMARK", required=True)
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--out", default="bench/results", metavar="DIR", help="results directory")
    ten_nodes = argparse.ArgumentParser(add_help=False)
    ten_nodes.add_argument(
        "--topology",
        default="examples/topologies/small-world-10.toml",
        metavar="T",
        help="ten-node topology (default: the small-world example)",
    )
    cs = benchmarks.add_parser("cli-startup", parents=[common, out], help="time `qorch --help`")
    cs.add_argument(
        "--runs", type=positive_int, default=30, metavar="N", help="timed runs (default 30)"
    )
    cb = benchmarks.add_parser("compile", parents=[common, out], help="compile latency and ebits")
    cb.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    _add_service_benchmarks(benchmarks, [common, out], [common, out, ten_nodes])
    _add_simulation_benchmarks(benchmarks, [common, out])
    nb = benchmarks.add_parser(
        "nfr",
        parents=[common, out, ten_nodes],
        help="measure NFR-001..NFR-003 and write docs/nfr-report.md",
    )
    nb.add_argument(
        "--jobs", type=positive_int, default=20, metavar="N", help="jobs per resilience run"
    )
    nb.add_argument(
        "--report", default="docs/nfr-report.md", metavar="FILE", help="where the report goes"
    )
    rb = benchmarks.add_parser(
        "run",
        parents=[common],
        help="run an experiment suite (FR-013) and write its report",
        description="Run every cell of SUITE (circuits × topologies × modes × fault "
        "scenarios × strategies × repeats) on real local clusters; resumable: a rerun "
        "skips the cells already in DIR/results.jsonl.",
    )
    rb.add_argument("suite", metavar="SUITE", help="suite TOML file (see examples/suites/)")
    rb.add_argument("--out", required=True, metavar="DIR", help="results and report directory")
    rb.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def _add_service_benchmarks(
    benchmarks: Any,
    writing: list[argparse.ArgumentParser],
    on_topology: list[argparse.ArgumentParser],
) -> None:
    """``qorch bench transport|api|events|overhead``; ``writing`` and ``on_topology`` are
    the parent parsers of a benchmark that writes to ``--out``, and of one that also runs
    on ``--topology``."""
    tb = benchmarks.add_parser(
        "transport",
        parents=on_topology,
        help="round trips and discovery (on --topology) per transport",
    )
    tb.add_argument(
        "--n", type=positive_int, default=300, metavar="N", help="round trips (default 300)"
    )
    ab = benchmarks.add_parser(
        "api",
        parents=on_topology,
        help="submit latency and jobs/s (on --topology) of the coordinator service",
    )
    ab.add_argument(
        "--jobs", type=positive_int, default=60, metavar="N", help="jobs in the throughput run"
    )
    eb = benchmarks.add_parser(
        "events",
        parents=writing,
        help="job latency with and without websocket clients following the events",
    )
    eb.add_argument("--clients", type=positive_int, default=50, metavar="N", help="followers (50)")
    eb.add_argument("--rounds", type=positive_int, default=3, metavar="N", help="round pairs (3)")
    ob = benchmarks.add_parser(
        "overhead",
        parents=on_topology,
        help="orchestration overhead per remote fragment (on --topology) per transport",
    )
    ob.add_argument("--jobs", type=positive_int, default=30, metavar="N", help="jobs per transport")


def _add_simulation_benchmarks(benchmarks: Any, writing: list[argparse.ArgumentParser]) -> None:
    """``qorch bench world|estimator`` (``writing``: the parent parsers of a benchmark that
    writes to ``--out``)."""
    wb = benchmarks.add_parser(
        "world",
        parents=writing,
        help="the world simulation's time for a 20-qubit, 50-operation distributed job",
    )
    wb.add_argument("--runs", type=positive_int, default=2, metavar="N", help="simulations (2)")
    wb.add_argument(
        "--qubits", type=positive_int, default=20, metavar="N", help="circuit width (20)"
    )
    xb = benchmarks.add_parser(
        "estimator",
        parents=writing,
        help="estimated vs achieved fidelity on QASMBench, plans with and without ebits",
    )
    xb.add_argument("--max-qubits", type=positive_int, default=12, metavar="N", help="largest (12)")
    xb.add_argument(
        "--shots", type=positive_int, default=1000, metavar="N", help="shots per job (1000)"
    )
