"""``qorch bench ...``: run a benchmark and print where its numbers were written."""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmark."""
    if args.action == "cli-startup":
        from qorch.bench.cli_startup import run as cli_startup

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
        from qorch.bench.compile_bench import run as compile_bench
        from qorch.cli.app import started

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
        from qorch.bench.api_bench import markdown
        from qorch.bench.api_bench import run as api_bench

        data = api_bench(
            args.out,
            small=Path("examples/topologies/two-nodes.toml"),
            large=Path(args.topology),
            jobs=args.jobs,
            progress=_progress,
        )
        _written(markdown(data), data["file"], args.out, "api")
    elif args.action == "events":
        from qorch.bench.events_bench import markdown
        from qorch.bench.events_bench import run as events_bench

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
        _written(markdown(data), data["file"], args.out, "events")
    elif args.action == "nfr":
        if args.jobs < 1:
            print("error: --jobs must be at least 1")
            return 2
        from qorch.bench.nfr_bench import run as nfr_bench
        from qorch.cli.app import started

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
        from qorch.cli.app import started
        from qorch.harness.runner import run_suite
        from qorch.harness.suite import load_suite

        with started(args, role="bench") as app:
            suite = load_suite(args.suite)
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
    import importlib

    from qorch.cli.app import started

    module = importlib.import_module(f"qorch.bench.{name}_bench")
    with started(args, role="bench") as app:
        data = module.run(app.plugins, args.out, progress=_progress, **options)
    _written(module.markdown(data), data["file"], args.out, written or name)
