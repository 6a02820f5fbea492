"""The plugin manager (DESIGN §4): built-in defaults, entry points, blocking, errors.

:class:`PluginSystem` wraps a pluggy manager. It registers the built-in plugin
(``qorch.builtin``, the ``builtin`` entry point of the ``qorch`` distribution), then every
other entry point of group ``qorch`` — each in its own guard,
so a broken pack is recorded as a :class:`~qorch.registry.BrokenPlugin` with its
distribution name and the others still load. It then collects implementations through
the registration hooks into a :class:`~qorch.registry.Registry`.

A broken plugin is fatal only when configuration selects something it would have
provided: the selection fails with the available names and the broken plugins listed.
"""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pluggy
from loguru import logger

from qorch import __version__, hookspecs
from qorch.config import Settings
from qorch.converters import structure_options
from qorch.errors import ConfigError, PluginError, UnknownImplementation
from qorch.interfaces import Parser
from qorch.registry import (
    KINDS,
    KINDS_BY_NAME,
    BrokenPlugin,
    Implementation,
    Registry,
    check_conforms,
)

ENTRY_POINT_GROUP = "qorch"
BUILTIN = "builtin"


def _summary(obj: Any) -> str:
    doc = getattr(obj, "__doc__", None) or getattr(type(obj), "__doc__", None) or ""
    return doc.strip().splitlines()[0].replace("``", "") if doc.strip() else ""


class PluginSystem:
    """Loads plugins and holds the registry of implementations.

    Args:
        settings: validated settings (``plugins.blocked`` is honoured); defaults if None.
        entry_points: load entry points of group ``qorch`` (off in some unit tests).
        extra: additional ``(name, plugin)`` pairs registered after the entry points,
            with distribution ``"(local)"`` — how tests and embedding code add plugins.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        entry_points: bool = True,
        extra: Iterable[tuple[str, object]] = (),
    ) -> None:
        self.settings = settings or Settings()
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self._dists: dict[str, tuple[str, str]] = {}
        blocked = self.settings.plugins.blocked
        self._blocked_plugins = {b for b in blocked if ":" not in b}
        self._blocked_impls = {tuple(b.split(":", 1)) for b in blocked if ":" in b}
        for name in self._blocked_plugins:
            self.pm.set_blocked(name)

        found = md.entry_points(group=ENTRY_POINT_GROUP)
        for ep in found.select(name=BUILTIN):
            self._load_entry_point(ep)
        if not self.pm.has_plugin(BUILTIN) and BUILTIN not in self._blocked_plugins:
            missing = PluginError("no entry point 'builtin' of group 'qorch': reinstall qorch-core")
            self._break(BUILTIN, "qorch-core", __version__, "load", missing)
        if entry_points:
            for ep in found:
                if ep.name != BUILTIN:
                    self._load_entry_point(ep)
        for name, plugin in extra:
            self._add_plugin(name, plugin, "(local)", "")
        self._collect()

    # -- loading ----------------------------------------------------------------------

    @property
    def broken(self) -> list[BrokenPlugin]:
        """Plugins that failed to load or register."""
        return self.registry.broken

    def _break(self, name: str, dist: str, version: str, stage: str, exc: BaseException) -> None:
        broken = BrokenPlugin(name, dist, version, stage, f"{type(exc).__name__}: {exc}")
        self.registry.broken.append(broken)
        logger.warning("plugin {}", broken.describe())

    def _load_entry_point(self, ep: md.EntryPoint) -> None:
        dist = ep.dist.name if ep.dist else "(unknown)"
        version = ep.dist.version if ep.dist else ""
        if ep.name in self._blocked_plugins:
            logger.info("plugin {} ({}) blocked by plugins.blocked", ep.name, dist)
            return
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken pack must not stop the others
            self._break(ep.name, dist, version, "load", exc)
            return
        self._add_plugin(ep.name, plugin, dist, version)

    def _add_plugin(self, name: str, plugin: object, dist: str, version: str) -> None:
        if name in self._blocked_plugins:
            return
        if self.pm.has_plugin(name):
            first = self._dists.get(name, ("?", ""))[0]
            self._break(
                name,
                dist,
                version,
                "register",
                PluginError(f"plugin name {name!r} is already taken by distribution {first}"),
            )
            return
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.has_plugin(name):
                self.pm.unregister(name=name)
            self._break(name, dist, version, "register", exc)
            return
        self._dists[name] = (dist, version)

    def _collect(self) -> None:
        for kind in KINDS:
            caller = getattr(self.pm.hook, kind.hook)
            for impl in caller.get_hookimpls():  # registration order
                self._collect_from(kind.name, impl)

    def _collect_from(self, kind: str, hookimpl: pluggy.HookImpl) -> None:
        plugin = hookimpl.plugin_name
        dist, version = self._dists.get(plugin, ("(unknown)", ""))
        found: list[Implementation] = []

        def register(
            name: str,
            implementation: Any,
            *,
            options: type | None = None,
            summary: str | None = None,
            aliases: tuple[str, ...] = (),
        ) -> None:
            if not isinstance(name, str) or not name:
                raise PluginError(f"{kind} name must be a non-empty string, got {name!r}")
            if options is not None and not hasattr(options, "__attrs_attrs__"):
                raise PluginError(f"options of {kind} {name!r} must be an attrs class")
            check_conforms(KINDS_BY_NAME[kind], name, implementation)
            found.append(
                Implementation(
                    kind=kind,
                    name=name,
                    obj=implementation,
                    options=options,
                    plugin=plugin,
                    distribution=dist,
                    version=version,
                    summary=summary if summary is not None else _summary(implementation),
                    aliases=tuple(aliases),
                )
            )

        try:
            hookimpl.function(register=register)
        except Exception as exc:
            self._break(plugin, dist, version, "register", exc)
            return
        for impl in found:
            if (impl.kind, impl.name) in self._blocked_impls:
                continue
            self.registry.add(impl)  # a duplicate is a configuration error: raise

    # -- selection and options ----------------------------------------------------------

    def get(self, kind: str, name: str) -> Implementation:
        """The implementation ``name`` of ``kind`` (UnknownImplementation lists the rest)."""
        return self.registry.get(kind, name)

    def selected(self, kind: str) -> Implementation:
        """The implementation of ``kind`` that configuration selects."""
        spec = KINDS_BY_NAME[kind]
        if spec.selector is None:
            raise PluginError(f"{kind} is not selected by configuration")
        section, key = spec.selector.split(".")
        return self.get(kind, getattr(getattr(self.settings, section), key))

    def options(
        self,
        kind: str,
        name: str,
        overrides: dict[str, Any] | None = None,
        where: str | None = None,
    ) -> Any:
        """Options of implementation ``name`` of ``kind``, structured from its config table
        (``[plugins.<kind>.<name>]``) with ``overrides`` laid over it.

        Raises :class:`ConfigError` with the exact key of any bad value, under ``where``
        (default: the table's name).
        """
        impl = self.get(kind, name)
        raw = {**self.settings.options_for(kind, name), **(overrides or {})}
        table = f"plugins.{kind}.{name}"
        if impl.options is None:
            if raw:
                raise ConfigError([f"{where or f'[{table}]'}: {kind} {name!r} takes no options"])
            return None
        return structure_options(raw, impl.options, where or table)

    def missing(self) -> list[dict[str, str | None]]:
        """The implementations configuration selects that are not installed: each one's
        ``kind``, ``name``, the ``setting`` selecting it and the ``distribution`` that
        provides it (``None`` when qorch knows none), for ``qorch plugins`` and ``qorch
        config show`` to name (issue 21, decision 0016)."""
        out: list[dict[str, str | None]] = []
        for k in KINDS:
            if k.selector is None:
                continue
            section, key = k.selector.split(".")
            name = getattr(getattr(self.settings, section), key)
            try:
                self.registry.get(k.name, name)
            except UnknownImplementation as exc:
                out.append(
                    {
                        "kind": k.name,
                        "name": name,
                        "setting": k.selector,
                        "distribution": exc.provider,
                    }
                )
        return out

    def check_config(self, *, allow_missing: bool = False) -> None:
        """Validate every selection and options table at start-up (FR-011).

        Raises :class:`ConfigError` listing every problem: unknown kinds or names in
        ``[plugins.*]`` tables, unknown selected names (unless ``allow_missing``: the
        commands that describe the installation list them via :meth:`missing`), bad
        option values.
        """
        problems: list[str] = []
        for kind, tables in self.settings.plugin_options.items():
            if kind not in KINDS_BY_NAME:
                problems.append(
                    f"[plugins.{kind}]: no such kind; kinds are {', '.join(KINDS_BY_NAME)}"
                )
                continue
            for name in tables:
                try:
                    self.options(kind, self._table_owner(kind, name))
                except (UnknownImplementation, ConfigError) as exc:
                    problems.extend(getattr(exc, "problems", [f"[plugins.{kind}.{name}]: {exc}"]))
        for k in KINDS:
            if k.selector is None:
                continue
            try:
                impl = self.selected(k.name)
                if not self.settings.options_for(k.name, impl.name):
                    self.options(k.name, impl.name)
            except UnknownImplementation as exc:
                if not allow_missing:
                    problems.append(f"{k.selector}: {exc}")
            except ConfigError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ConfigError(problems)

    def _table_owner(self, kind: str, name: str) -> str:
        """The implementation an options table ``[plugins.<kind>.<name>]`` configures:
        ``name``, or the registered name it spells with ``_`` for ``-``."""
        if name in self.registry.names(kind) or "_" not in name:
            return name
        hyphenated = name.replace("_", "-")
        return hyphenated if hyphenated in self.registry.names(kind) else name

    def create(
        self,
        kind: str,
        name: str | None = None,
        *,
        overrides: dict[str, Any] | None = None,
        where: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Instantiate an implementation: ``obj(options, **kwargs)`` (or ``obj(**kwargs)``).

        ``name`` defaults to the configured selection of ``kind``; ``overrides`` and
        ``where`` are as for :meth:`options`. What a factory returns is checked against the
        kind's interface (:class:`PluginError` naming what it lacks).
        """
        impl = self.get(kind, name) if name is not None else self.selected(kind)
        options = self.options(kind, impl.name, overrides, where)
        made = impl.obj(**kwargs) if impl.options is None else impl.obj(options, **kwargs)
        check_conforms(KINDS_BY_NAME[kind], impl.name, made)
        return made

    def with_transport(self, name: str, orchestration: str | None = None) -> PluginSystem:
        """A plugin system with these settings except that transport ``name`` (and
        ``orchestration``, when given) is selected: how the harness runs one suite in
        each arm of orchestration x transport (issue 17)."""
        network = attrs.evolve(self.settings.network, transport=name)
        runtime = self.settings.runtime
        if orchestration is not None:
            runtime = attrs.evolve(runtime, orchestration=orchestration)
        return PluginSystem(attrs.evolve(self.settings, network=network, runtime=runtime))

    def parser(self, name: str) -> Parser:
        """The registered parser ``name`` (:class:`UnknownImplementation` lists the rest)."""
        parser: Parser = self.get("parser", name).obj
        return parser

    # -- lifecycle and observers -------------------------------------------------------

    def _call_each(self, hook: str, fatal: bool, **kwargs: Any) -> None:
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            try:
                impl.function(**{k: kwargs[k] for k in impl.argnames})
            except Exception as exc:
                if fatal:
                    raise PluginError(
                        f"plugin {impl.plugin_name!r} failed in {hook}: {type(exc).__name__}: {exc}"
                    ) from exc
                logger.opt(exception=exc).error(
                    "plugin {} raised in {}: {}", impl.plugin_name, hook, exc
                )

    def configure(self) -> None:
        """Call ``qorch_configure`` on every plugin; a failure aborts start-up."""
        self._call_each("qorch_configure", True, settings=self.settings)

    def startup(self, role: str) -> None:
        """Call ``qorch_startup``; a failure aborts start-up naming the plugin."""
        self._call_each("qorch_startup", True, role=role, settings=self.settings)

    def shutdown(self, role: str) -> None:
        """Call ``qorch_shutdown``; failures are logged."""
        self._call_each("qorch_shutdown", False, role=role)

    @contextmanager
    def observing(self, observer: object, name: str) -> Iterator[None]:
        """Register ``observer`` (an object with ``qorch_on_*`` hook implementations) for
        the block — how a service attaches its own listeners (events, metrics)."""
        self.pm.register(observer, name=name)
        try:
            yield
        finally:
            self.pm.unregister(observer)

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call observer ``hook`` (``qorch_on_*``) on every plugin; failures are logged."""
        if not hook.startswith("qorch_on_"):
            raise PluginError(f"{hook} is not an observer hook")
        self._call_each(hook, False, **kwargs)

    def select_parser(self, source: Any, format: str) -> str | None:
        """Ask ``qorch_select_parser`` (firstresult) which parser reads ``source``."""
        return self.pm.hook.qorch_select_parser(source=source, format=format)

    def describe(self) -> dict[str, Any]:
        """Everything ``qorch plugins --json`` prints: kinds, implementations, broken.

        Each implementation says whether configuration selects it (``selected``); for
        kinds chosen per call (parsers) every implementation is available, so each is.
        """
        selected: dict[str, str | None] = {}
        for k in KINDS:
            if k.selector is not None:
                section, key = k.selector.split(".")
                selected[k.name] = getattr(getattr(self.settings, section), key)
        return {
            "kinds": {
                k.name: [
                    {**i.describe(), "selected": selected.get(k.name, i.name) == i.name}
                    for i in self.registry.of_kind(k.name)
                ]
                for k in KINDS
            },
            "plugins": [
                {"name": n, "distribution": d, "version": v}
                for n, (d, v) in sorted(self._dists.items())
            ],
            "missing": self.missing(),
            "broken": [
                {
                    "plugin": b.plugin,
                    "distribution": b.distribution,
                    "version": b.version,
                    "stage": b.stage,
                    "error": b.error,
                }
                for b in self.broken
            ],
        }
