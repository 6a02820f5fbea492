"""Fault injection (FR-013, DESIGN §10): seeded schedules of faults, the same in every mode.

A *fault injector* plugin (kind ``fault``) turns its options, the topology and a seeded
``random.Random`` into :class:`FaultEvent` s; :func:`build_schedule` composes the
injectors of one scenario into a :class:`FaultSchedule` — the same scenario, topology
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
  (:func:`qorch.node.processes.apply_drops`).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from qorch.errors import ConfigError
from qorch.topology import Topology

KINDS = ("latency", "degrade", "drop")


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
        """The events that concern ``node``."""
        return tuple(e for e in self.events if e.node == node)

    def starting_at(self, epoch: float) -> FaultSchedule:
        """The same events, counted from ``epoch``."""
        return attrs.evolve(self, epoch=epoch)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {"epoch": self.epoch, "events": [attrs.asdict(e) for e in self.events]}

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


@runtime_checkable
class FaultInjector(Protocol):
    """The interface of a fault injector plugin (kind ``fault``)."""

    def events(self, topology: Topology, rng: random.Random) -> list[FaultEvent]:
        """The faults this injector adds to a run on ``topology``, drawn from ``rng``."""
        ...


def pick_node(name: str, topology: Topology, rng: random.Random) -> str:
    """``name``, or a node drawn from ``rng`` when it is ``"random"``; an unknown name
    raises :class:`ConfigError`."""
    names = sorted(n.name for n in topology.nodes)
    if name == "random":
        if not names:
            raise ConfigError(["a fault names a random node of a topology without nodes"])
        return rng.choice(names)
    if name not in names:
        raise ConfigError([f"a fault names node {name!r}, not in the topology ({names})"])
    return name


def scenario_injectors(plugins: Any, entries: Any, where: str = "faults") -> list[Any]:
    """The injectors of a scenario: ``entries`` is a list of tables, each naming an
    injector (``kind``) and its options (the rest, over the defaults in
    ``[plugins.fault.<kind>]``), e.g. ``{"kind": "node-drop", "node": "random", "start_s":
    2}``. Bad entries raise :class:`ConfigError` naming ``where[i]``."""
    from qorch.converters import structure_options
    from qorch.errors import PluginError

    if not isinstance(entries, list):
        raise ConfigError([f"{where}: expected a list of tables, got {type(entries).__name__}"])
    out = []
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
            raise ConfigError([f"{at}: expected a table with kind = '<fault injector>'"])
        # [plugins.fault.<kind>] holds defaults; the entry's own keys override them
        options = {
            **plugins.settings.options_for("fault", entry["kind"]),
            **{k: v for k, v in entry.items() if k != "kind"},
        }
        try:
            impl = plugins.get("fault", entry["kind"])
        except PluginError as exc:
            raise ConfigError([f"{at}: {exc}"]) from None
        if impl.options is None:
            if options:
                raise ConfigError([f"{at}: fault {entry['kind']!r} takes no options"])
            out.append(impl.obj())
        else:
            out.append(impl.obj(structure_options(options, impl.options, at)))
    return out


def load_scenario(path: str | Path, plugins: Any, topology: Topology, seed: int) -> FaultSchedule:
    """The schedule of a scenario file (TOML: ``[[faults]]`` tables) on ``topology``."""
    import tomllib

    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([f"cannot read the fault scenario {path}: {exc}"]) from None
    unknown = sorted(set(data) - {"faults", "name", "description"})
    if unknown:  # a suite or a typo given as a scenario must not mean "no faults"
        raise ConfigError([f"{path}: {unknown[0]}: unknown key (expected [[faults]] tables)"])
    if "faults" not in data:
        raise ConfigError([f"{path}: no [[faults]] table"])
    injectors = scenario_injectors(plugins, data["faults"], f"{path}: faults")
    return build_schedule(injectors, topology, seed)


def build_schedule(
    injectors: Iterable[FaultInjector], topology: Topology, seed: int
) -> FaultSchedule:
    """Compose ``injectors`` (in order, one rng seeded with ``seed``) into a schedule."""
    rng = random.Random(seed)
    events = [e for injector in injectors for e in injector.events(topology, rng)]
    events.sort(key=lambda e: (e.start_s, e.node, e.kind))
    return FaultSchedule(tuple(events))


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

    def fidelity_scale(self, now: float) -> float:
        """Factor on the node's gate fidelities at ``now`` (overlapping ones multiply)."""
        scale = 1.0
        for e in self._active("degrade", now):
            scale *= e.fidelity_scale
        return scale
