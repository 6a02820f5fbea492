"""Start-up shared by the commands: settings, logging, plugins, lifecycle hooks (FR-011)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

import attrs

from qorch.config import Settings, load_settings
from qorch.errors import UsageError
from qorch.logs import configure_logging
from qorch.plugins import PluginSystem


@attrs.frozen
class App:
    """What a command works with: validated settings and the loaded plugins."""

    settings: Settings
    plugins: PluginSystem


@contextmanager
def started(
    args: argparse.Namespace, role: str = "cli", *, allow_missing: bool = False, **overrides: object
) -> Iterator[App]:
    """Load and validate everything, call the lifecycle hooks, and shut down afterwards.

    ``overrides`` replace settings sections' fields, e.g. ``data_dir="..."``;
    ``allow_missing`` lets a selected implementation be absent (``qorch plugins`` and
    ``qorch config show`` name it instead, :meth:`PluginSystem.missing`).
    Raises :class:`~qorch.errors.ConfigError` (a bad setting) or
    :class:`~qorch.errors.PluginError` before anything runs.
    """
    settings = load_settings(getattr(args, "config", None))
    if overrides.get("data_dir"):
        settings = attrs.evolve(
            settings, paths=attrs.evolve(settings.paths, data_dir=str(overrides["data_dir"]))
        )
    fmt = "json" if getattr(args, "log_json", False) else settings.logging.format
    configure_logging(getattr(args, "log_level", None) or settings.logging.level, fmt)
    plugins = PluginSystem(settings)
    plugins.check_config(allow_missing=allow_missing)
    plugins.configure()
    plugins.startup(role)
    try:
        yield App(settings, plugins)
    finally:
        plugins.shutdown(role)


def check_addresses(app: App, addresses: list[str] | tuple[str, ...], flag: str) -> None:
    """Refuse (:class:`~qorch.errors.UsageError`) peer addresses the configured transport
    cannot dial, before any process starts (issue 15)."""

    transport = app.plugins.create("transport")
    problems = [p for p in (transport.check_address(a) for a in addresses) if p]
    if problems:
        raise UsageError(f"{flag}: " + "; ".join(problems))
