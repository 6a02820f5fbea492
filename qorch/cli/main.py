"""Entry point of the ``qorch`` command: argument parsing and error handling only.

Each command lives in its own module, which adds the command's arguments to its
sub-parser and is imported only when that command is chosen, so that ``qorch --help``
loads nothing but ``argparse`` (measured by ``qorch bench cli-startup``).
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

#: command -> (its line in ``qorch --help``, "module:function" adding its arguments)
COMMANDS = {
    "parse": ("parse circuits and describe them", "qorch.cli.parse_cmd:add_arguments"),
    "compile": (
        "compile circuits into distributed plans",
        "qorch.cli.compile_cmd:add_arguments",
    ),
    "plugins": ("list plugin implementations by kind", "qorch.cli.plugins_cmd:add_arguments"),
    "config": ("show the effective configuration", "qorch.cli.config_cmd:add_arguments"),
    "db": ("manage the store's schema (FR-010)", "qorch.cli.db_cmd:add_arguments"),
    "keys": ("manage API keys (FR-014)", "qorch.cli.keys_cmd:add_arguments"),
    "run": (
        "run one circuit end to end on a local cluster",
        "qorch.cli.run_cmd:add_arguments",
    ),
    "node": ("run a service node", "qorch.cli.node_cmd:add_node_arguments"),
    "nodes": (
        "list the service nodes a network advertises",
        "qorch.cli.node_cmd:add_nodes_arguments",
    ),
    "coordinator": (
        "run the coordinator service and its HTTP job API",
        "qorch.cli.coordinator_cmd:add_coordinator_arguments",
    ),
    "up": (
        "run the coordinator and one node process per topology node",
        "qorch.cli.coordinator_cmd:add_up_arguments",
    ),
    "submit": ("submit a circuit to a coordinator", "qorch.cli.client_cmd:add_submit_arguments"),
    "status": (
        "a job's state, or the coordinator's health",
        "qorch.cli.client_cmd:add_status_arguments",
    ),
    "result": ("a completed job's result", "qorch.cli.client_cmd:add_result_arguments"),
    "cancel": (
        "cancel a job (exit 1 if it had ended)",
        "qorch.cli.client_cmd:add_cancel_arguments",
    ),
    "jobs": ("a coordinator's jobs, paged", "qorch.cli.client_cmd:add_jobs_arguments"),
    "bench": (
        "run a benchmark; results in bench/results/",
        "qorch.cli.bench_cmd:add_arguments",
    ),
}


def _common() -> argparse.ArgumentParser:
    """The global options every command accepts (a parent parser)."""
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


class _Commands(argparse._SubParsersAction):
    """The ``COMMAND`` sub-parsers: each holds only the global options until its command
    is chosen; then its module adds the rest (``add_arguments(parser, common)``, which
    also sets the ``handler`` that runs it). So ``qorch --help`` imports no command module,
    and ``qorch run`` imports only the one of ``run``."""

    def __init__(self, *args: Any, common: argparse.ArgumentParser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.common = common

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        command = values[0]  # argparse has checked it is one of COMMANDS
        chosen = self._name_parser_map[command]
        if chosen.get_default("handler") is None:
            module, function = COMMANDS[command][1].split(":")
            getattr(importlib.import_module(module), function)(chosen, self.common)
        super().__call__(parser, namespace, values, option_string)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (cheap: no qorch module beyond this one is imported; a
    command's own arguments are added when it is chosen, see :class:`_Commands`)."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="qorch",
        parents=[common],
        description="Orchestrate quantum circuits across a network of QPU service nodes.",
    )
    parser.add_argument("--version", action="version", version=f"qorch {__version__}")
    sub = parser.add_subparsers(  # type: ignore[call-overload]  # _Commands takes common=
        dest="command", metavar="COMMAND", required=True, action=_Commands, common=common
    )
    for command, (summary, _) in COMMANDS.items():
        sub.add_parser(command, parents=[common], help=summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    try:
        args = build_parser().parse_args(argv)  # imports the chosen command's module
        return int(args.handler(args) or 0)
    except BrokenPipeError:
        return 0
    except (Exception, KeyboardInterrupt, BaseExceptionGroup) as exc:
        from qorch.cli.boundary import report  # start-up: only when something went wrong

        return report(exc)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
