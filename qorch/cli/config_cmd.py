"""``qorch config show``: the effective configuration and where each value came from (FR-011)."""

from __future__ import annotations

import argparse
import json

import attrs
from rich.console import Console
from rich.table import Table

from qorch.cli.app import App, started
from qorch.cli.plugins_cmd import warn_missing
from qorch.config import schema, settings_as_dict, to_toml
from qorch.converters import converter


def run(args: argparse.Namespace) -> int:
    """Run ``qorch config show``: also when a selected implementation is not installed
    (it is named on stderr with the distribution that provides it)."""
    with started(args, allow_missing=True) as app:
        settings = app.settings
        data = effective_settings(app)
        option_docs = _option_docs(app)
        warn_missing(app.plugins.missing())
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    docs = {s.key: s.doc for s in schema()} | option_docs
    if args.toml:
        print(to_toml(data, docs), end="")
        return 0

    table = Table(title="effective configuration")
    for col in ("key", "value", "source", "meaning"):
        table.add_column(col, overflow="fold")
    for spec in schema():
        section, key = spec.key.split(".", 1)
        table.add_row(
            spec.key, json.dumps(data[section][key]), settings.sources[spec.key], spec.doc
        )
    for kind, tables in data["plugins"].items():
        if kind == "blocked":
            continue
        for name, options in tables.items():
            for key, value in options.items():
                configured = key in settings.options_for(kind, name)
                table.add_row(
                    f"plugins.{kind}.{name}.{key}",
                    json.dumps(value),
                    "configured" if configured else "plugin default",
                    option_docs.get(f"plugins.{kind}.{name}.{key}", ""),
                )
    Console().print(table)
    return 0


def effective_settings(app: App) -> dict:
    """Every setting, plus the effective options of every implementation that has options."""

    data = settings_as_dict(app.settings)
    for impl in app.plugins.registry.all():
        if impl.options is not None:
            options = converter.unstructure(app.plugins.options(impl.kind, impl.name))
            data["plugins"].setdefault(impl.kind, {})[impl.name] = options
    return data


def _option_docs(app: App) -> dict[str, str]:
    """``plugins.<kind>.<name>.<field>`` -> the field's doc, for options classes that have one."""

    docs: dict[str, str] = {}
    for impl in app.plugins.registry.all():
        if impl.options is None:
            continue
        for field in attrs.fields(impl.options):
            if "doc" in field.metadata:
                docs[f"plugins.{impl.kind}.{impl.name}.{field.name}"] = field.metadata["doc"]
    return docs


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch config show`` and its formats."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", parents=[common], help="every setting, its value and source")
    fmt = show.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="nested JSON of the effective values")
    fmt.add_argument("--toml", action="store_true", help="a complete, commented settings file")
    parser.set_defaults(handler=run)
