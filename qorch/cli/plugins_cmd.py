"""``qorch plugins``: every implementation by kind, with the distribution providing it,
and the implementations configuration selects that are not installed, with the
distribution that provides each (issue 21: it works on a kernel-only install)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from qorch.cli.app import started
from qorch.registry import KINDS


def run(args: argparse.Namespace) -> int:
    """Run ``qorch plugins``; exit status 0 (broken plugins and missing defaults are
    listed, not fatal)."""
    with started(args, allow_missing=True) as app:
        info = app.plugins.describe()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0

    table = Table(title="qorch implementations")
    for col in ("kind", "name", "distribution", "version", "summary"):
        table.add_column(col, overflow="fold")
    for kind in KINDS:
        impls = info["kinds"][kind.name]
        if not impls:
            table.add_row(kind.title, "[dim](none installed)[/dim]", "", "", "")
        for i, impl in enumerate(impls):
            selected = impl["selected"] and kind.selector is not None
            table.add_row(
                kind.title if i == 0 else "",
                impl["name"] + (" [bold](selected)[/bold]" if selected else ""),
                impl["distribution"],
                impl["version"],
                impl["summary"],
            )
    console = Console(width=max(Console().width, 120))
    console.print(table)
    for b in info["broken"]:
        console.print(
            f"[red]broken plugin[/red] {b['plugin']} ({b['distribution']} "
            f"{b['version']}) failed to {b['stage']}: {b['error']}",
            highlight=False,
        )
    for line in missing_lines(info["missing"]):
        console.print(f"[yellow]{line}[/yellow]", highlight=False, soft_wrap=True)
    return 0


def missing_lines(missing: list[dict[str, Any]]) -> list[str]:
    """One sentence per selected implementation that is not installed: what selects it
    and which distribution provides it."""
    lines = []
    for m in missing:
        line = f"missing: {m['setting']} selects the {m['kind']} {m['name']!r}, not installed"
        if m["distribution"]:
            line += f"; it comes with {m['distribution']} (pip install {m['distribution']})"
        lines.append(line)
    return lines


def warn_missing(missing: list[dict[str, Any]]) -> None:
    """Print :func:`missing_lines` on stderr."""
    for line in missing_lines(missing):
        print(line, file=sys.stderr)


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch plugins``'s arguments."""
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)
