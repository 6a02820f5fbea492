"""Argument types and options that several commands' sub-parsers share (argparse only:
every ``qorch`` invocation imports this module)."""

from __future__ import annotations

import argparse
from typing import Any

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


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    """``--data-dir DIR``, for the commands that own a data directory (added before their
    own arguments, so it follows the global options in the usage line)."""
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="data directory (default: paths.data_dir)",
    )


def add_store_action(
    actions: Any, common: argparse.ArgumentParser, name: str, summary: str
) -> argparse.ArgumentParser:
    """The sub-parser of one action of ``qorch db`` or ``qorch keys`` (``actions``, their
    sub-parsers): on the store under ``--data-dir``."""
    action = actions.add_parser(name, parents=[common], help=summary)
    add_data_dir(action)
    return action
