"""Fault injection (FR-013, DESIGN §10): seeded schedules of faults, the same in every mode.

A *fault injector* plugin (kind ``fault``) turns its options, the topology and a seeded
``random.Random`` into :class:`FaultEvent` s; :func:`qorch.scenarios.build_schedule`
composes the injectors of one scenario into a :class:`FaultSchedule` — the same scenario,
topology
and seed give the same schedule bytes (its :meth:`~FaultSchedule.digest`), whichever
transport runs it (NFR-001). Times are seconds after the schedule's ``epoch`` (the unix
time the run starts), so node processes and the harness agree on them without talking:
a harness starts its nodes with ``qorch node --faults FILE`` holding the schedule with no
epoch (nothing happens yet), writes the epoch into the file once every node is up, and
sends the nodes SIGHUP, on which a node reads its schedule again.

Who applies what:

* ``latency`` (a latency spike): the node itself holds every reply to the coordinator
  (``reserve``, ``execute``, ``status``) back by ``delay_ms`` during the window
  (:class:`NodeFaults`, ``qorch node --faults FILE``);
* ``degrade`` (fidelity degradation): the node's real noise worsens — its gates deliver
  ``fidelity_scale`` × their fidelity during the window — and its adverts carry the
  change only from their next refresh, so the registry is briefly stale, as in life;
* ``drop`` (a node drop): whoever started the node process kills it (SIGKILL) at
  ``start_s`` and, when ``duration_s`` > 0, starts it again that much later
  (:func:`qorch.node.processes.apply_drops`);
* ``link-latency`` (a latency spike on the link between ``node`` and ``peer``): each of
  the two holds back its answer to every message from the other by ``delay_ms`` — the
  classical channel between them is slow. Only node-to-node messages cross it (the
  ``distributed`` orchestration's notices and ebit handshakes); a hub's messages to
  each node do not (issue 17);
* ``coordinator-crash``: the harness kills the coordinator process (SIGKILL) ``start_s``
  after the group's first submission and starts it again ``duration_s`` later
  (:mod:`qorch.harness.process_cluster`); its ``node`` is ``coordinator``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import attrs

from qorch.errors import ConfigError

KINDS = ("latency", "degrade", "drop", "link-latency", "coordinator-crash")


@attrs.frozen
class FaultEvent:
    """One fault: ``kind`` on ``node`` from ``start_s`` for ``duration_s`` seconds.

    ``delay_ms`` is a latency spike's extra delay per reply; ``fidelity_scale`` a
    degradation's factor on every gate fidelity; a drop's ``duration_s`` is how long
    the node stays down before it is restarted (0: it stays down).
    """

    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    node: str
    start_s: float = attrs.field(validator=attrs.validators.ge(0.0))
    duration_s: float = attrs.field(default=0.0, validator=attrs.validators.ge(0.0))
    delay_ms: float = attrs.field(default=0.0, validator=attrs.validators.ge(0.0))
    fidelity_scale: float = attrs.field(
        default=1.0, validator=[attrs.validators.gt(0.0), attrs.validators.le(1.0)]
    )
    peer: str = ""  # the other end of a link-latency spike

    def to_dict(self) -> dict[str, Any]:
        """Plain data; ``peer`` only when set (earlier schedules keep their digest)."""
        return attrs.asdict(self, filter=lambda a, v: a.name != "peer" or v != "")

    def active(self, t: float) -> bool:
        """Whether the fault holds ``t`` seconds after the epoch."""
        return self.start_s <= t < self.start_s + self.duration_s


@attrs.frozen
class FaultSchedule:
    """The faults of one run, in start order, relative to ``epoch`` (unix seconds; ``None``:
    the run has not started, nothing is active)."""

    events: tuple[FaultEvent, ...] = ()
    epoch: float | None = None

    def for_node(self, node: str) -> tuple[FaultEvent, ...]:
        """The events that concern ``node`` (either end of a link)."""
        return tuple(e for e in self.events if node in (e.node, e.peer))

    def starting_at(self, epoch: float) -> FaultSchedule:
        """The same events, counted from ``epoch``."""
        return attrs.evolve(self, epoch=epoch)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {"epoch": self.epoch, "events": [e.to_dict() for e in self.events]}

    def digest(self) -> str:
        """sha256 of the events (not the epoch: reruns start at other times)."""
        text = json.dumps(self.to_dict()["events"], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def write(self, path: Path) -> Path:
        """Write the schedule as JSON (what ``qorch node --faults`` reads), atomically:
        a node reading it meanwhile sees the old file or the new one."""
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_text(json.dumps(self.to_dict(), indent=1))
        partial.replace(path)
        return path


def schedule_from_dict(data: Any, where: str = "fault schedule") -> FaultSchedule:
    """A schedule from :meth:`FaultSchedule.to_dict`; bad data raises :class:`ConfigError`."""
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise ConfigError([f"{where}: expected {{'epoch': number, 'events': [...]}}"])
    events = []
    for i, raw in enumerate(data["events"]):
        try:
            events.append(FaultEvent(**raw))
        except (TypeError, ValueError) as exc:  # attrs validators: (message, attribute, ...)
            reason = exc.args[0] if exc.args else exc
            raise ConfigError([f"{where}: events[{i}]: {reason}"]) from None
    epoch = data.get("epoch")
    if epoch is not None and (not isinstance(epoch, int | float) or isinstance(epoch, bool)):
        raise ConfigError([f"{where}: epoch = {epoch!r}: expected a number or null"])
    return FaultSchedule(tuple(events), None if epoch is None else float(epoch))


def load_schedule(path: str | Path) -> FaultSchedule:
    """Read a schedule written by :meth:`FaultSchedule.write`."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError([f"cannot read the fault schedule {path}: {exc}"]) from None
    return schedule_from_dict(data, str(path))


class NodeFaults:
    """What a node applies of a schedule: its latency spikes and degradations."""

    def __init__(self, schedule: FaultSchedule, node: str) -> None:
        self.epoch = schedule.epoch
        self.events = schedule.for_node(node)

    def _active(self, kind: str, now: float) -> list[FaultEvent]:
        if self.epoch is None:
            return []
        t = now - self.epoch
        return [e for e in self.events if e.kind == kind and e.active(t)]

    def delay_s(self, now: float) -> float:
        """Extra delay of a reply at unix time ``now`` (overlapping spikes add up)."""
        return sum(e.delay_ms for e in self._active("latency", now)) / 1000.0

    def link_delay_s(self, now: float, peer: str) -> float:
        """Extra delay at ``now`` of the answer to a message from node ``peer``: the
        link-latency spikes between this node and it."""
        spikes = self._active("link-latency", now)
        return sum(e.delay_ms for e in spikes if peer in (e.node, e.peer)) / 1000.0

    def fidelity_scale(self, now: float) -> float:
        """Factor on the node's gate fidelities at ``now`` (overlapping ones multiply)."""
        scale = 1.0
        for e in self._active("degrade", now):
            scale *= e.fidelity_scale
        return scale
