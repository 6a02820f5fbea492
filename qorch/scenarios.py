"""A fault scenario (FR-013, DESIGN §10): injectors chosen by name, composed into a schedule.

A scenario is a list of ``[[faults]]`` tables, each naming a fault injector plugin
(``kind``) and its options; :func:`build_schedule` draws their events from one rng seeded
by the run, so the same scenario, topology and seed give the same
:class:`~qorch.faults.FaultSchedule` in every mode (NFR-001). What each fault does, and
who applies it, is in :mod:`qorch.faults`.
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from qorch.errors import ConfigError, UnknownImplementation
from qorch.faults import FaultSchedule
from qorch.interfaces import FaultInjector, Plugins
from qorch.topology import Topology


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


def scenario_injectors(
    plugins: Plugins, entries: Any, where: str = "faults"
) -> list[FaultInjector]:
    """The injectors of a scenario: ``entries`` is a list of tables, each naming an
    injector (``kind``) and its options (the rest, over the defaults in
    ``[plugins.fault.<kind>]``), e.g. ``{"kind": "node-drop", "node": "random", "start_s":
    2}``. Bad entries raise :class:`ConfigError` naming ``where[i]``."""
    if not isinstance(entries, list):
        raise ConfigError([f"{where}: expected a list of tables, got {type(entries).__name__}"])
    out = []
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
            raise ConfigError([f"{at}: expected a table with kind = '<fault injector>'"])
        # [plugins.fault.<kind>] holds defaults; the entry's own keys override them
        overrides = {k: v for k, v in entry.items() if k != "kind"}
        try:
            out.append(plugins.create("fault", entry["kind"], overrides=overrides, where=at))
        except UnknownImplementation as exc:
            raise ConfigError([f"{at}: {exc}"]) from None
    return out


def load_scenario(
    path: str | Path, plugins: Plugins, topology: Topology, seed: int
) -> FaultSchedule:
    """The schedule of a scenario file (TOML: ``[[faults]]`` tables) on ``topology``."""
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
