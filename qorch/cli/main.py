"""Entry point of the ``qorch`` command: argument parsing and error handling only.

Each command lives in its own module, imported only when that command runs, so that
``qorch --help`` loads nothing but ``argparse`` (measured by ``qorch bench cli-startup``).
Errors pass one boundary (:mod:`qorch.cli.boundary`): a user's mistake is one sentence
and exit status 2, Ctrl-C prints ``interrupted`` and exits 130, and a bug is one line
naming the file that holds its traceback, exit status 1 — never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from typing import Any

from qorch import __version__

#: command -> "module:function" run with the parsed arguments
COMMANDS = {
    "parse": "qorch.cli.parse_cmd:run",
    "compile": "qorch.cli.compile_cmd:run",
    "plugins": "qorch.cli.plugins_cmd:run",
    "config": "qorch.cli.config_cmd:run",
    "db": "qorch.cli.db_cmd:run",
    "keys": "qorch.cli.keys_cmd:run",
    "bench": "qorch.cli.bench_cmd:run",
    "node": "qorch.cli.node_cmd:run_node_command",
    "nodes": "qorch.cli.node_cmd:run_nodes_command",
    "run": "qorch.cli.run_cmd:run",
    "coordinator": "qorch.cli.coordinator_cmd:run",
    "up": "qorch.cli.coordinator_cmd:run",
    "submit": "qorch.cli.client_cmd:submit",
    "status": "qorch.cli.client_cmd:status",
    "result": "qorch.cli.client_cmd:result",
    "cancel": "qorch.cli.client_cmd:cancel",
    "jobs": "qorch.cli.client_cmd:jobs",
}


EXECUTED_HELP = (
    "write the executed circuit (OpenQASM 3: the nodes' native gates and the explicit "
    "protocols, no noise) to FILE"
)


def positive_int(text: str) -> int:
    """An argument that must be a whole number of at least 1 (``--shots 0`` is refused,
    not replaced by the default)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def port_number(text: str) -> int:
    """A TCP port argument: 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {value}")
    return value


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("global options")
    g.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="settings file (default: $QORCH_CONFIG, else ./settings.toml)",
    )
    g.add_argument(
        "--log-json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="write logs as JSON lines",
    )
    g.add_argument(
        "--log-level",
        metavar="LEVEL",
        default=argparse.SUPPRESS,
        type=str.upper,
        choices=("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"),
        help="lowest log level (default: logging.level)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (cheap: no qorch module beyond this one is imported)."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="qorch",
        parents=[common],
        description="Orchestrate quantum circuits across a network of QPU service nodes.",
    )
    parser.add_argument("--version", action="version", version=f"qorch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    _add_circuit_commands(sub, common)

    data_dir = _add_admin_commands(sub, common)

    p = sub.add_parser(
        "run",
        parents=[common],
        help="run one circuit end to end on a local cluster",
        description="Start one node process per topology node, run the circuit on them and "
        "print counts, estimated vs achieved fidelity, ebits and timings (FR-006).",
    )
    p.add_argument("file", metavar="FILE", help="circuit file; '-' reads stdin")
    p.add_argument("--topology", required=True, metavar="T", help="topology TOML file")
    p.add_argument("--format", default="auto", help="input format (as for `qorch parse`)")
    p.add_argument("--shots", type=positive_int, metavar="N", help="shots (default: runtime.shots)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="job seed (default 0)")
    p.add_argument("--strategy", metavar="S", help="placement strategy")
    p.add_argument(
        "--faults",
        metavar="SCENARIO",
        help="a fault scenario (TOML, [[faults]] tables), scheduled with --seed (FR-013)",
    )
    p.add_argument("--json", action="store_true", help="the result as one JSON object")
    p.add_argument("--executed", metavar="FILE", help=EXECUTED_HELP)

    p = sub.add_parser(
        "node",
        parents=[common, data_dir],
        help="run a service node",
        description="Run a service node (FR-001, FR-005) until SIGTERM/SIGINT. Its spec comes "
        "from [node] in the settings file (--config), or from a topology entry.",
    )
    p.add_argument("--listen", metavar="MULTIADDR", help="default: network.listen")
    p.add_argument(
        "--bootstrap", nargs="+", default=None, metavar="MULTIADDR", help="peers to join through"
    )
    p.add_argument("--topology", metavar="T", help="topology file holding the node's spec")
    p.add_argument("--name", metavar="N", help="the node's name (with --topology: its entry)")
    p.add_argument(
        "--faults",
        metavar="FILE",
        help="a fault schedule (JSON) whose latency spikes and degradations this node applies",
    )

    p = sub.add_parser(
        "nodes",
        parents=[common],
        help="list the service nodes a network advertises",
        description="Join the network as an observer, collect adverts and list them (FR-002).",
    )
    p.add_argument("--bootstrap", nargs="+", metavar="MULTIADDR", help="peers to join through")
    p.add_argument("--url", metavar="U", help="ask this coordinator's API instead of the network")
    p.add_argument("--api-key", metavar="K", help="API key for --url (default $QORCH_API_KEY)")
    p.add_argument(
        "--wait", type=float, default=3.0, metavar="S", help="seconds to collect (default 3)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per node (JSON Lines)")

    for name, helptext in (
        ("coordinator", "run the coordinator service and its HTTP job API"),
        ("up", "run the coordinator and one node process per topology node"),
    ):
        p = sub.add_parser(
            name,
            parents=[common, data_dir],
            help=helptext,
            description=helptext + " (FR-006, FR-009, FR-010) until SIGINT/SIGTERM.",
        )
        p.add_argument(
            "--port", type=port_number, metavar="P", help="API port (default: coordinator.port)"
        )
        if name == "coordinator":
            p.add_argument(
                "--bootstrap", nargs="+", default=None, metavar="MULTIADDR", help="node peers"
            )
            p.add_argument("--listen", metavar="MULTIADDR", help="the coordinator peer's address")
        else:
            p.add_argument("--topology", required=True, metavar="T", help="topology TOML file")

    _add_client_commands(sub, common)
    _add_bench(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = build_parser().parse_args(argv)
    module, func = COMMANDS[args.command].split(":")
    try:
        handler = getattr(importlib.import_module(module), func)
        return int(handler(args) or 0)
    except BrokenPipeError:
        return 0
    except (Exception, KeyboardInterrupt, BaseExceptionGroup) as exc:
        from qorch.cli.boundary import report

        return report(exc)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


def _add_bench(sub: Any, common: argparse.ArgumentParser) -> None:
    """``qorch bench BENCHMARK``: each benchmark and its options."""
    p = sub.add_parser("bench", parents=[common], help="run a benchmark; results in bench/results/")
    bsub = p.add_subparsers(dest="action", metavar="BENCHMARK", required=True)
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--out", default="bench/results", metavar="DIR", help="results directory")
    ten_nodes = argparse.ArgumentParser(add_help=False)
    ten_nodes.add_argument(
        "--topology",
        default="examples/topologies/small-world-10.toml",
        metavar="T",
        help="ten-node topology (default: the small-world example)",
    )
    cs = bsub.add_parser("cli-startup", parents=[common, out], help="time `qorch --help`")
    cs.add_argument(
        "--runs", type=positive_int, default=30, metavar="N", help="timed runs (default 30)"
    )
    cb = bsub.add_parser("compile", parents=[common, out], help="compile latency and ebits")
    cb.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    tb = bsub.add_parser(
        "transport",
        parents=[common, out, ten_nodes],
        help="round trips and discovery (on --topology) per transport",
    )
    tb.add_argument(
        "--n", type=positive_int, default=300, metavar="N", help="round trips (default 300)"
    )
    ab = bsub.add_parser(
        "api",
        parents=[common, out, ten_nodes],
        help="submit latency and jobs/s (on --topology) of the coordinator service",
    )
    ab.add_argument(
        "--jobs", type=positive_int, default=60, metavar="N", help="jobs in the throughput run"
    )
    eb = bsub.add_parser(
        "events",
        parents=[common, out],
        help="job latency with and without websocket clients following the events",
    )
    eb.add_argument("--clients", type=positive_int, default=50, metavar="N", help="followers (50)")
    eb.add_argument("--rounds", type=positive_int, default=3, metavar="N", help="round pairs (3)")
    ob = bsub.add_parser(
        "overhead",
        parents=[common, out, ten_nodes],
        help="orchestration overhead per remote fragment (on --topology) per transport",
    )
    ob.add_argument("--jobs", type=positive_int, default=30, metavar="N", help="jobs per transport")
    wb = bsub.add_parser(
        "world",
        parents=[common, out],
        help="the world simulation's time for a 20-qubit, 50-operation distributed job",
    )
    wb.add_argument("--runs", type=positive_int, default=2, metavar="N", help="simulations (2)")
    wb.add_argument(
        "--qubits", type=positive_int, default=20, metavar="N", help="circuit width (20)"
    )
    xb = bsub.add_parser(
        "estimator",
        parents=[common, out],
        help="estimated vs achieved fidelity on QASMBench, plans with and without ebits",
    )
    xb.add_argument("--max-qubits", type=positive_int, default=12, metavar="N", help="largest (12)")
    xb.add_argument(
        "--shots", type=positive_int, default=1000, metavar="N", help="shots per job (1000)"
    )
    nb = bsub.add_parser(
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
    rb = bsub.add_parser(
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


def _add_circuit_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """``qorch parse`` and ``qorch compile``."""
    p = sub.add_parser(
        "parse",
        parents=[common],
        help="parse circuits and describe them",
        description="Parse OpenQASM 2/3 files (FR-003) and describe them.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="circuit files; '-' reads stdin")
    p.add_argument(
        "--format",
        default="auto",
        help="auto (from the OPENQASM header), qasm2, qasm3, or a plugin's format",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per input (JSON Lines)")
    p.add_argument("--emit", choices=("qasm3", "qasm2"), help="also print the circuit re-emitted")

    p = sub.add_parser(
        "compile",
        parents=[common],
        help="compile circuits into distributed plans",
        description="Compile circuits for a topology (FR-004).",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="circuit files; '-' reads stdin")
    p.add_argument("--topology", required=True, metavar="TOPO", help="topology TOML file")
    p.add_argument("--format", default="auto", help="input format (as for `qorch parse`)")
    p.add_argument("--seed", type=int, metavar="N", help="search seed (default: compiler.seed)")
    p.add_argument(
        "--strategy", metavar="S", help="placement strategy (default: compiler.placement)"
    )
    p.add_argument("--cost-model", metavar="M", help="cost model (default: compiler.cost_model)")
    p.add_argument(
        "--min-fidelity",
        type=float,
        metavar="F",
        help="lowest gate and link fidelity accepted (default: compiler.min_fidelity)",
    )
    p.add_argument(
        "--shots",
        type=positive_int,
        metavar="N",
        help="shots the fidelity estimate predicts for (default: runtime.shots)",
    )
    p.add_argument("--json", action="store_true", help="one plan summary per input (JSON Lines)")
    p.add_argument("--full", action="store_true", help="with --json: include the whole plan")
    p.add_argument(
        "--repeat",
        type=positive_int,
        default=1,
        metavar="N",
        help="compile N times and report compile_ms as {p50, p95, n}",
    )


def _add_client_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """``qorch submit``, ``status``, ``result``, ``cancel``, ``jobs``: a coordinator's HTTP
    API."""
    client = argparse.ArgumentParser(add_help=False)
    client.add_argument("--url", metavar="U", help="coordinator API (default $QORCH_URL or :8700)")
    client.add_argument("--json", action="store_true", help="machine-readable output")
    client.add_argument("--api-key", metavar="K", help="API key (default $QORCH_API_KEY)")
    p = sub.add_parser("submit", parents=[common, client], help="submit a circuit to a coordinator")
    p.add_argument("file", metavar="FILE", help="circuit file; '-' reads stdin")
    p.add_argument("--format", default="auto", choices=("auto", "qasm2", "qasm3"))
    p.add_argument("--shots", type=positive_int, metavar="N", help="shots (default: runtime.shots)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="job seed (default 0)")
    p.add_argument("--strategy", metavar="S", help="placement strategy")
    p.add_argument("--wait", action="store_true", help="wait for the job and print its result")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S", help="--wait at most S")
    p = sub.add_parser(
        "status", parents=[common, client], help="a job's state, or the coordinator's health"
    )
    p.add_argument("job_id", metavar="JOB", nargs="?", help="the job (default: the coordinator)")
    p = sub.add_parser("result", parents=[common, client], help="a completed job's result")
    p.add_argument("job_id", metavar="JOB")
    p.add_argument("--executed", metavar="FILE", help=EXECUTED_HELP)
    p = sub.add_parser(
        "cancel", parents=[common, client], help="cancel a job (exit 1 if it had ended)"
    )
    p.add_argument("job_id", metavar="JOB")
    p = sub.add_parser("jobs", parents=[common, client], help="a coordinator's jobs, paged")
    p.add_argument("--state", metavar="S", help="only jobs in state S (QUEUED ... FAILED)")
    p.add_argument("--limit", type=int, default=100, metavar="N", help="at most N (1-1000)")
    p.add_argument("--offset", type=int, default=0, metavar="N", help="skip the first N")


def _add_admin_commands(sub: Any, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``qorch plugins``, ``config``, ``db``, ``keys``; returns the ``--data-dir`` parent
    parser the service commands share."""
    p = sub.add_parser("plugins", parents=[common], help="list plugin implementations by kind")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("config", parents=[common], help="show the effective configuration")
    csub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = csub.add_parser("show", parents=[common], help="every setting, its value and source")
    fmt = show.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="nested JSON of the effective values")
    fmt.add_argument("--toml", action="store_true", help="a complete, commented settings file")

    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument(
        "--data-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="data directory (default: paths.data_dir)",
    )
    p = sub.add_parser("db", parents=[common, data_dir], help="manage the store's schema (FR-010)")
    dsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    db_common = [common, data_dir]
    up = dsub.add_parser("upgrade", parents=db_common, help="apply pending migrations")
    up.add_argument("--target", metavar="NAME", help="stop after this migration")
    down = dsub.add_parser("downgrade", parents=db_common, help="roll back migrations")
    down.add_argument(
        "--steps", type=positive_int, default=1, metavar="N", help="how many (default 1)"
    )
    st = dsub.add_parser("status", parents=db_common, help="applied and pending migrations")
    st.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser(
        "keys",
        parents=[common, data_dir],
        help="manage API keys (FR-014)",
        description="Make, list and revoke the API keys of the store under --data-dir; a key "
        "is printed once, the store keeps only its sha256 (FR-014).",
    )
    ksub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    kc = ksub.add_parser("create", parents=db_common, help="make a key and print it once")
    kc.add_argument("name", metavar="NAME", help="1-64 of A-Z a-z 0-9 . _ @ -")
    kc.add_argument(
        "--roles", required=True, metavar="R[,R]", help="comma-separated: read, submit, admin"
    )
    kc.add_argument("--json", action="store_true", help='{"name", "key", "roles", "prefix"}')
    kl = ksub.add_parser("list", parents=db_common, help="names, roles, prefixes, times")
    kl.add_argument("--json", action="store_true", help="one JSON object per key (JSON Lines)")
    kr = ksub.add_parser("revoke", parents=db_common, help="delete a key by name")
    kr.add_argument("name", metavar="NAME")
    return data_dir
