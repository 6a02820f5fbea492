"""Implementations by kind and name (DESIGN §4).

A :class:`Registry` holds what plugins registered through the ``qorch_register_*``
hooks. Configuration and callers look implementations up by ``(kind, name)``; an unknown
name fails with the list of available names (and the plugins that failed to load, which
might have provided it).
"""

from __future__ import annotations

import functools
import inspect
import typing
from typing import Any

import attrs
from loguru import logger

from qorch import interfaces
from qorch.errors import PluginError, UnknownImplementation


@attrs.frozen
class Kind:
    """One kind of implementation: its name, registration hook, interface and selector.

    ``protocol`` is the interface every implementation must offer
    (:mod:`qorch.interfaces`); ``selector`` is the dotted settings key that picks one
    implementation by name (``None`` when the kind is chosen per call, e.g. parsers by
    input format).
    """

    name: str
    hook: str
    title: str
    protocol: type
    selector: str | None = None

    def missing(self, obj: Any) -> list[str]:
        """The members of :attr:`protocol` that ``obj`` lacks (empty when it conforms).

        A class is checked for the methods its instances will have; an instance for every
        member; a factory function cannot be checked before it is called (empty).
        """
        if inspect.isroutine(obj):
            return []
        members = list(protocol_members(self.protocol))
        if isinstance(obj, type):
            members = [m for m in members if callable(getattr(self.protocol, m, None))]
        return [m for m in members if not hasattr(obj, m)]


@functools.cache
def protocol_members(protocol: type) -> tuple[str, ...]:
    """The attributes and methods a Protocol class declares (its own and its bases')."""
    names: set[str] = set()
    for cls in protocol.__mro__:
        if cls in (object, typing.Protocol, typing.Generic) or cls.__name__ == "Protocol":
            continue
        names.update(inspect.get_annotations(cls))
        names.update(n for n in cls.__dict__ if not n.startswith("_"))
    return tuple(sorted(names))


#: The distribution that provides each default implementation kept out of the kernel
#: (decision 0016): named when configuration selects one that is not installed.
PROVIDERS: dict[tuple[str, str], str] = {
    ("transport", "libp2p"): "qorch-libp2p",
    ("transport", "tcp"): "qorch-tcp",
    ("store", "sqlite"): "qorch-sqlite",
}

#: Every kind, in the order ``qorch plugins`` lists them. Later issues add selectors.
KINDS: tuple[Kind, ...] = (
    Kind("parser", "qorch_register_parsers", "circuit parsers", interfaces.Parser),
    Kind(
        "cost_model",
        "qorch_register_cost_models",
        "cost models",
        interfaces.CostModel,
        selector="compiler.cost_model",
    ),
    Kind(
        "placement",
        "qorch_register_placement_strategies",
        "placement strategies",
        interfaces.PlacementStrategy,
        selector="compiler.placement",
    ),
    Kind(
        "transport",
        "qorch_register_transports",
        "transports",
        interfaces.Transport,
        selector="network.transport",
    ),
    Kind(
        "fallback",
        "qorch_register_fallback_policies",
        "fallback policies",
        interfaces.FallbackPolicy,
        selector="runtime.fallback",
    ),
    Kind(
        "orchestration",
        "qorch_register_orchestrations",
        "orchestrations",
        interfaces.Orchestration,
        selector="runtime.orchestration",
    ),
    Kind(
        "store",
        "qorch_register_stores",
        "stores",
        interfaces.Store,
        selector="store.backend",
    ),
    Kind("node_type", "qorch_register_node_types", "node types", interfaces.NodeType),
    Kind("fault", "qorch_register_fault_injectors", "fault injectors", interfaces.FaultInjector),
)
KINDS_BY_NAME = {k.name: k for k in KINDS}


@attrs.frozen
class Implementation:
    """A registered implementation and where it came from."""

    kind: str
    name: str
    obj: Any = attrs.field(eq=False, repr=False)
    options: type | None
    plugin: str
    distribution: str
    version: str
    summary: str
    #: older names that still select this implementation (with a warning)
    aliases: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        """JSON-able description (what ``qorch plugins --json`` prints)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
            "summary": self.summary,
            "options": self.options.__name__ if self.options else None,
            "aliases": list(self.aliases),
        }


@attrs.frozen
class BrokenPlugin:
    """A plugin that failed to load or register, reported instead of crashing."""

    plugin: str
    distribution: str
    version: str
    stage: str
    error: str

    def describe(self) -> str:
        """One line: plugin, distribution and the error."""
        where = f"{self.plugin} ({self.distribution} {self.version})"
        return f"{where} failed to {self.stage}: {self.error}"


def check_conforms(kind: Kind, name: str, obj: Any) -> None:
    """Refuse ``obj`` as implementation ``name`` of ``kind`` when it lacks a member of the
    kind's interface: :class:`PluginError` naming the kind, the interface and what is
    missing."""
    missing = kind.missing(obj)
    if missing:
        raise PluginError(
            f"{kind.name} {name!r} does not implement {kind.protocol.__name__}: "
            f"missing {', '.join(missing)}"
        )


class Registry:
    """Implementations by ``(kind, name)``."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], Implementation] = {}
        self._aliases: dict[tuple[str, str], str] = {}
        self._warned: set[tuple[str, str]] = set()
        self.broken: list[BrokenPlugin] = []

    def add(self, impl: Implementation) -> None:
        """Add ``impl``; a second implementation with the same kind and name is an error."""
        if impl.kind not in KINDS_BY_NAME:
            raise PluginError(f"unknown kind {impl.kind!r}")
        key = (impl.kind, impl.name)
        if key in self._items:
            old = self._items[key]
            raise PluginError(
                f"duplicate {impl.kind} name {impl.name!r}: registered by plugin "
                f"{old.plugin!r} ({old.distribution}) and by plugin {impl.plugin!r} "
                f"({impl.distribution})"
            )
        self._items[key] = impl
        for alias in impl.aliases:
            self._aliases.setdefault((impl.kind, alias), impl.name)

    def get(self, kind: str, name: str) -> Implementation:
        """The implementation ``name`` of ``kind`` (an alias names the implementation it
        stands for, with a warning the first time), or :class:`UnknownImplementation`."""
        if (kind, name) not in self._items and (kind, name) in self._aliases:
            new = self._aliases[(kind, name)]
            if (kind, name) not in self._warned:
                self._warned.add((kind, name))
                logger.warning(
                    "{} {!r} is now called {!r}; the old name still works", kind, name, new
                )
            name = new
        try:
            return self._items[(kind, name)]
        except KeyError:
            raise UnknownImplementation(
                kind,
                name,
                self.names(kind),
                [b.describe() for b in self.broken],
                PROVIDERS.get((kind, name)),
            ) from None

    def names(self, kind: str) -> list[str]:
        """Sorted names registered for ``kind``."""
        return sorted(n for (k, n) in self._items if k == kind)

    def of_kind(self, kind: str) -> list[Implementation]:
        """Implementations of ``kind``, sorted by name."""
        return [self._items[(kind, n)] for n in self.names(kind)]

    def all(self) -> list[Implementation]:
        """Every implementation, in :data:`KINDS` order then by name."""
        return [impl for kind in KINDS for impl in self.of_kind(kind.name)]
