"""``qorch plugins``: every implementation by kind, with the distribution providing it."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from qorch.cli.app import started
from qorch.registry import KINDS


def run(args: argparse.Namespace) -> int:
    """Run ``qorch plugins``; exit status 0 (broken plugins are listed, not fatal)."""
    with started(args) as app:
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
    return 0


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch plugins``'s arguments."""
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)
