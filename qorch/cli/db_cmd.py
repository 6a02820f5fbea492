"""``qorch db upgrade|downgrade|status``: the store's versioned migrations (FR-010)."""

from __future__ import annotations

import argparse
import json

from qorch.cli.app import started
from qorch.cli.arguments import add_data_dir, add_store_action, positive_int


def run(args: argparse.Namespace) -> int:
    """Run one ``qorch db`` action on the configured store."""
    with started(args, data_dir=getattr(args, "data_dir", None)) as app:
        store = app.plugins.create("store", data_dir=app.settings.data_path())
        with store:
            if args.action == "upgrade":
                done = store.upgrade(args.target)
                print("applied: " + (", ".join(done) if done else "nothing (already current)"))
            elif args.action == "downgrade":
                if args.steps < 1:
                    print("error: --steps must be at least 1")
                    return 2
                done = store.downgrade(args.steps)
                print("rolled back: " + (", ".join(done) if done else "nothing"))
            status = store.status()
    if args.action == "status":
        if getattr(args, "json", False):
            print(
                json.dumps(
                    {
                        "applied": status.applied,
                        "pending": status.pending,
                        "current": status.current,
                    }
                )
            )
        else:
            print(f"store: {app.settings.store.backend} in {app.settings.data_path()}")
            print("applied: " + (", ".join(status.applied) or "none"))
            print("pending: " + (", ".join(status.pending) or "none"))
    return 0


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch db upgrade|downgrade|status`` and their options."""
    add_data_dir(parser)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = add_store_action(actions, common, "upgrade", "apply pending migrations")
    up.add_argument("--target", metavar="NAME", help="stop after this migration")
    down = add_store_action(actions, common, "downgrade", "roll back migrations")
    down.add_argument(
        "--steps", type=positive_int, default=1, metavar="N", help="how many (default 1)"
    )
    status = add_store_action(actions, common, "status", "applied and pending migrations")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)
