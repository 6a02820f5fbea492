"""The default fault injectors (FR-013, DESIGN §10): ``latency-spike``, ``node-drop``,
``fidelity-degradation``, ``link-latency-spike`` and ``coordinator-crash`` (issue 17).

Each takes the node to hit (``"random"``: one drawn from the schedule's seeded rng), when
(``start_s`` seconds after the run starts, plus up to ``jitter_s`` drawn from the rng)
and for how long; see :mod:`qorch.faults` for who applies each kind. A scenario composes
any number of them, each with its own options (:func:`qorch.scenarios.scenario_injectors`).
"""

from __future__ import annotations

import random
from typing import Any

import attrs

from qorch.errors import ConfigError
from qorch.faults import FaultEvent
from qorch.scenarios import pick_node
from qorch.topology import Topology


def _node() -> Any:
    return attrs.field(
        default="random", metadata={"doc": "the node to hit, or 'random' (drawn, seeded)"}
    )


def _seconds(default: float, doc: str) -> Any:
    return attrs.field(default=default, validator=attrs.validators.ge(0.0), metadata={"doc": doc})


def _start(options: Any, rng: random.Random) -> float:
    return options.start_s + (rng.uniform(0.0, options.jitter_s) if options.jitter_s else 0.0)


@attrs.frozen
class LatencySpikeOptions:
    """Options of ``latency-spike``."""

    node: str = _node()
    start_s: float = _seconds(1.0, "seconds after the run starts")
    jitter_s: float = _seconds(0.0, "a seeded random extra delay of the start, at most this")
    duration_s: float = _seconds(5.0, "how long the spike lasts")
    delay_ms: float = _seconds(50.0, "extra delay of each of the node's replies, ms")


class LatencySpike:
    """One node answers ``delay_ms`` later over a window."""

    def __init__(self, options: LatencySpikeOptions) -> None:
        self.options = options

    def events(self, topology: Topology, rng: random.Random) -> list[FaultEvent]:
        """One ``latency`` event."""
        o = self.options
        node = pick_node(o.node, topology, rng)
        return [FaultEvent("latency", node, _start(o, rng), o.duration_s, delay_ms=o.delay_ms)]


@attrs.frozen
class NodeDropOptions:
    """Options of ``node-drop``."""

    node: str = _node()
    start_s: float = _seconds(1.0, "seconds after the run starts")
    jitter_s: float = _seconds(0.0, "a seeded random extra delay of the start, at most this")
    restart_after_s: float = _seconds(0.0, "restart the node this much later (0: never)")


class NodeDrop:
    """A node process is killed (SIGKILL), and optionally started again later."""

    def __init__(self, options: NodeDropOptions) -> None:
        self.options = options

    def events(self, topology: Topology, rng: random.Random) -> list[FaultEvent]:
        """One ``drop`` event (its duration is the time until the restart)."""
        o = self.options
        node = pick_node(o.node, topology, rng)
        return [FaultEvent("drop", node, _start(o, rng), o.restart_after_s)]


@attrs.frozen
class FidelityDegradationOptions:
    """Options of ``fidelity-degradation``."""

    node: str = _node()
    start_s: float = _seconds(1.0, "seconds after the run starts")
    jitter_s: float = _seconds(0.0, "a seeded random extra delay of the start, at most this")
    duration_s: float = _seconds(10.0, "how long the node's noise stays worse")
    fidelity_scale: float = attrs.field(
        default=0.9,
        validator=[attrs.validators.gt(0.0), attrs.validators.le(1.0)],
        metadata={"doc": "factor on every gate fidelity of the node while it lasts"},
    )


class FidelityDegradation:
    """A node's gates deliver worse fidelity over a window; its adverts lag a refresh."""

    def __init__(self, options: FidelityDegradationOptions) -> None:
        self.options = options

    def events(self, topology: Topology, rng: random.Random) -> list[FaultEvent]:
        """One ``degrade`` event."""
        o = self.options
        node = pick_node(o.node, topology, rng)
        return [
            FaultEvent(
                "degrade", node, _start(o, rng), o.duration_s, fidelity_scale=o.fidelity_scale
            )
        ]


@attrs.frozen
class LinkLatencySpikeOptions:
    """Options of ``link-latency-spike``."""

    node: str = _node()
    peer: str = attrs.field(
        default="random",
        metadata={"doc": "the link's other node, or 'random' (one linked to the first, drawn)"},
    )
    start_s: float = _seconds(1.0, "seconds after the run starts")
    jitter_s: float = _seconds(0.0, "a seeded random extra delay of the start, at most this")
    duration_s: float = _seconds(5.0, "how long the spike lasts")
    delay_ms: float = _seconds(50.0, "extra delay of each message over the link, ms")


class LinkLatencySpike:
    """The classical channel between two nodes slows down over a window (issue 17)."""

    def __init__(self, options: LinkLatencySpikeOptions) -> None:
        self.options = options

    def events(self, topology: Topology, rng: random.Random) -> list[FaultEvent]:
        """One ``link-latency`` event between ``node`` and ``peer``."""
        o = self.options
        node = pick_node(o.node, topology, rng)
        if o.peer == "random":
            linked = sorted(
                link.b if link.a == node else link.a
                for link in topology.links
                if node in (link.a, link.b)
            )
            if not linked:
                raise ConfigError([f"link-latency-spike: node {node!r} has no link"])
            peer = rng.choice(linked)
        else:
            peer = pick_node(o.peer, topology, rng)
        start = _start(o, rng)
        return [FaultEvent("link-latency", node, start, o.duration_s, o.delay_ms, peer=peer)]


@attrs.frozen
class CoordinatorCrashOptions:
    """Options of ``coordinator-crash``."""

    start_s: float = _seconds(1.0, "seconds after the group's first submission")
    jitter_s: float = _seconds(0.0, "a seeded random extra delay of the start, at most this")
    restart_after_s: float = _seconds(2.0, "start the coordinator again this much later")


class CoordinatorCrash:
    """The coordinator process is killed (SIGKILL) and started again (issue 17): played
    by the harness, whose coordinator is a process of its own."""

    def __init__(self, options: CoordinatorCrashOptions) -> None:
        self.options = options

    def events(self, topology: Topology, rng: random.Random) -> list[FaultEvent]:
        """One ``coordinator-crash`` event (its duration is the time until the restart)."""
        o = self.options
        return [FaultEvent("coordinator-crash", "coordinator", _start(o, rng), o.restart_after_s)]
