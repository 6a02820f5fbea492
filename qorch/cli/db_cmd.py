"""``qorch db upgrade|downgrade|status``: the store's versioned migrations (FR-010)."""

from __future__ import annotations

import argparse
import json

from qorch.cli.app import started


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
