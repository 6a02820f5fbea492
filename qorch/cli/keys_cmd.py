"""``qorch keys create|list|revoke``: the API keys of a coordinator's store (FR-014).

A key is printed once, by ``create``; the store keeps its sha256, its roles and its first
8 characters (:mod:`qorch.keys`). The store is the configured one under ``--data-dir``
(upgraded first, as the coordinator does), so keys can be made before the coordinator
first starts, or while it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from qorch.cli.app import started
from qorch.cli.arguments import add_data_dir, add_store_action
from qorch.errors import StoreError
from qorch.keys import check_name, hash_key, key_prefix, new_key, parse_roles
from qorch.model import ApiKeyRecord, utcnow


def run(args: argparse.Namespace) -> int:
    """Run one ``qorch keys`` action on the configured store."""
    if args.action == "create":  # bad input is refused before any file is touched
        name, roles = check_name(args.name), parse_roles(args.roles)
    with started(args, data_dir=getattr(args, "data_dir", None)) as app:
        store = app.plugins.create("store", data_dir=app.settings.data_path())
        with store:
            store.upgrade()
            if args.action == "create":
                return _create(store, name, roles, json_out=args.json)
            if args.action == "list":
                return _list(store, json_out=args.json)
            if not store.delete_api_key(args.name):
                raise StoreError(f"no API key named {args.name!r} (see `qorch keys list`)")
            print(f"revoked API key {args.name!r}")
            return 0


def _create(store: Any, name: str, roles: tuple[str, ...], *, json_out: bool) -> int:
    key = new_key()
    store.add_api_key(ApiKeyRecord(name, hash_key(key), roles, utcnow(), key_prefix(key)))
    if json_out:
        print(
            json.dumps({"name": name, "key": key, "roles": list(roles), "prefix": key_prefix(key)})
        )
    else:
        print(key)
    print(
        f"API key {name!r} ({', '.join(roles)}) created; it will not be shown again, "
        "so keep it now",
        file=sys.stderr,
    )
    return 0


def _list(store: Any, *, json_out: bool) -> int:
    rows = [
        {
            "name": k.name,
            "roles": list(k.roles),
            "prefix": k.prefix,
            "created_at": k.created_at.isoformat(timespec="seconds"),
        }
        for k in store.list_api_keys()
    ]
    if json_out:
        for row in rows:
            print(json.dumps(row))
        return 0
    if not rows:
        print("no API keys (make one with `qorch keys create NAME --roles ROLES`)")
        return 0
    width = max(len("name"), *(len(r["name"]) for r in rows))
    print(f"{'name':<{width}}  {'roles':<18}  {'prefix':<8}  created_at")
    for r in rows:
        print(
            f"{r['name']:<{width}}  {','.join(r['roles']):<18}  {r['prefix']:<8}  {r['created_at']}"
        )
    return 0


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch keys create|list|revoke`` and their options."""
    parser.description = (
        "Make, list and revoke the API keys of the store under --data-dir; a key "
        "is printed once, the store keeps only its sha256 (FR-014)."
    )
    add_data_dir(parser)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = add_store_action(actions, common, "create", "make a key and print it once")
    create.add_argument("name", metavar="NAME", help="1-64 of A-Z a-z 0-9 . _ @ -")
    create.add_argument(
        "--roles", required=True, metavar="R[,R]", help="comma-separated: read, submit, admin"
    )
    create.add_argument("--json", action="store_true", help='{"name", "key", "roles", "prefix"}')
    listing = add_store_action(actions, common, "list", "names, roles, prefixes, times")
    listing.add_argument("--json", action="store_true", help="one JSON object per key (JSON Lines)")
    revoke = add_store_action(actions, common, "revoke", "delete a key by name")
    revoke.add_argument("name", metavar="NAME")
    parser.set_defaults(handler=run)
