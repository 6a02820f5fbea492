"""``qorch bench ...``: run a benchmark and print where its numbers were written."""

from __future__ import annotations

import argparse


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
            results = compile_bench(
                app.plugins, args.out, quick=args.quick, progress=lambda m: print(m, flush=True)
            )
        print(
            "geometric mean ebits: "
            + ", ".join(f"{s} {v:.2f}" for s, v in results["geomean_ebits"].items())
        )
        print(f"written to {args.out}/compile.json and {args.out}/compile.md")
    elif args.action == "transport":
        from pathlib import Path

        from qorch.bench.transport_bench import markdown
        from qorch.bench.transport_bench import run as transport_bench
        from qorch.cli.app import started

        if args.n < 1:
            print("error: --n must be at least 1")
            return 2
        with started(args, role="bench") as app:
            data = transport_bench(
                app.plugins,
                args.out,
                n=args.n,
                topology=Path(args.topology),
                progress=lambda m: print(m, flush=True),
            )
        print(markdown(data))
        print(f"written to {data['file']} and {args.out}/transport.md")
    elif args.action == "api":
        from pathlib import Path

        from qorch.bench.api_bench import markdown
        from qorch.bench.api_bench import run as api_bench

        data = api_bench(
            args.out,
            small=Path("examples/topologies/two-nodes.toml"),
            large=Path(args.topology),
            jobs=args.jobs,
            progress=lambda m: print(m, flush=True),
        )
        print(markdown(data))
        print(f"written to {data['file']} and {args.out}/api.md")
    elif args.action == "overhead":
        from pathlib import Path

        from qorch.bench.overhead_bench import markdown
        from qorch.bench.overhead_bench import run as overhead_bench
        from qorch.cli.app import started

        if args.jobs < 1:
            print("error: --jobs must be at least 1")
            return 2
        with started(args, role="bench") as app:
            data = overhead_bench(
                app.plugins,
                args.out,
                topology=Path(args.topology),
                jobs=args.jobs,
                progress=lambda m: print(m, flush=True),
            )
        print(markdown(data))
        print(f"written to {data['file']} and {args.out}/overhead.md")
    return 0
