"""Topology: what nodes offer and how they are linked (FR-001, FR-004, FR-008).

One schema serves topology files and registry snapshots, so a snapshot taken from live
advertisements and a TOML file are interchangeable inputs to the compiler. A file::

    [defaults]                     # optional gate durations when a gate gives only a fidelity
    one_qubit_ns = 50
    two_qubit_ns = 300
    measure_ns = 1000

    [network]                      # optional: link every pair not listed under [[links]]
    all_to_all = true
    link_fidelity = 0.99
    link_latency_ms = 1.0

    [[nodes]]
    name = "qpu-a"
    qubits = 8                     # capacity
    node_type = "superconducting"  # optional
    gates = { h = 0.9995, cx = { fidelity = 0.99, duration_ns = 300 }, measure = 0.98 }
    t1_us = 2e6                    # optional coherence (idle decoherence, DESIGN §6), or
    t2_us = 1e6                    #   coherence = "superconducting" | "trapped-ion" | ...
    comm_qubits = 2                # optional bound on ebit halves and protocol ancillas

    [[links]]
    a = "qpu-a"
    b = "qpu-b"
    fidelity = 0.97
    latency_ms = 2.0

Every problem is reported at once with its path (``nodes[1].gates.cx.fidelity``).
A node whose entry sets no coherence runs with its node type's, if that has any (the
``superconducting`` and ``trapped-ion`` types do; the default ``simulated`` does not):
:func:`qorch.node.runner.node_type_for`, so a live snapshot may carry coherence the file
leaves out.
``measure`` and ``reset`` are offered by every node (fidelity 1 unless listed).
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from qorch.errors import QorchError
from qorch.gates import GATES

NON_GATES = ("measure", "reset")
#: coherence presets, (T1, T2) in µs: orders of magnitude (../shared/notes/protocols.md)
COHERENCE_PRESETS: dict[str, tuple[float, float]] = {
    "superconducting": (100.0, 80.0),
    "trapped-ion": (1e8, 1e6),
    "neutral-atom": (1e7, 1e6),
}
DEFAULT_DURATIONS_NS = {
    "one_qubit_ns": 50.0,
    "two_qubit_ns": 300.0,
    "measure_ns": 1000.0,
    "reset_ns": 1000.0,
}


class TopologyError(QorchError):
    """A topology file or snapshot is invalid; ``problems`` lists every one."""

    kind = "topology"

    def __init__(self, problems: list[str], source: str = "topology") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(f"invalid {source}:\n" + "\n".join(f"  - {p}" for p in problems))

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "topology", "message", "problems"}``."""
        return {"kind": self.kind, "message": str(self), "problems": self.problems}


@attrs.frozen
class GateSpec:
    """How well and how fast a node does one gate."""

    fidelity: float
    duration_ns: float


@attrs.frozen
class NodeSpec:
    """A service node's capabilities: capacity, gates with fidelity and duration, state.

    ``available`` is false for a node whose advert expired; ``degraded`` marks a node below
    the quality thresholds (FR-008). The compiler uses neither. ``qubits`` counts data
    qubits; ebit halves and protocol ancillas are extra (at most ``comm_qubits`` when set).
    ``t1_us``/``t2_us``: coherence times — a node without them never decoheres.
    ``fidelity_scale``: the degradation already in ``gates`` (a degraded node's advert), so
    the world simulator does not apply it twice.
    """

    name: str
    qubits: int
    gates: dict[str, GateSpec]
    node_type: str = "simulated"
    available: bool = True
    degraded: bool = False
    t1_us: float | None = None
    t2_us: float | None = None
    comm_qubits: int | None = None
    fidelity_scale: float = 1.0

    def gate(self, name: str) -> GateSpec | None:
        """The spec of gate ``name`` here, or ``None`` if the node does not offer it."""
        return self.gates.get(name)

    @property
    def usable(self) -> bool:
        """Available and not degraded."""
        return self.available and not self.degraded


@attrs.frozen
class LinkSpec:
    """A quantum link between two nodes: fidelity of the ebits it makes, classical latency."""

    a: str
    b: str
    fidelity: float
    latency_ms: float
    degraded: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """The node names, sorted."""
        return (self.a, self.b) if self.a <= self.b else (self.b, self.a)


def _sorted_nodes(nodes: Iterable[NodeSpec]) -> tuple[NodeSpec, ...]:
    return tuple(sorted(nodes, key=lambda n: n.name))


def _sorted_links(links: Iterable[LinkSpec]) -> tuple[LinkSpec, ...]:
    return tuple(sorted((_normal(x) for x in links), key=lambda x: x.key))


@attrs.frozen
class Topology:
    """Nodes and links, sorted by name, with a content digest (NFR-001)."""

    nodes: tuple[NodeSpec, ...] = attrs.field(converter=_sorted_nodes)
    links: tuple[LinkSpec, ...] = attrs.field(converter=_sorted_links)

    def without(self, nodes: tuple[str, ...]) -> Topology:
        """This topology with ``nodes`` marked unavailable (how a re-plan leaves them out)."""
        return Topology(
            [attrs.evolve(n, available=False) if n.name in nodes else n for n in self.nodes],
            self.links,
        )

    def node(self, name: str) -> NodeSpec:
        """The node called ``name`` (KeyError if none)."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def link(self, a: str, b: str) -> LinkSpec | None:
        """The link between ``a`` and ``b`` in either direction, or ``None``."""
        key = (a, b) if a <= b else (b, a)
        for link in self.links:
            if link.key == key:
                return link
        return None

    def to_dict(self) -> dict[str, Any]:
        """Plain data in a canonical order (what the digest is taken of)."""
        from qorch.converters import converter

        return converter.unstructure(self)

    def digest(self) -> str:
        """sha256 of the canonical JSON of this topology."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _normal(link: LinkSpec) -> LinkSpec:
    a, b = link.key
    return attrs.evolve(link, a=a, b=b)


# -- reading files ----------------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fidelity(self, path: str, value: Any) -> float | None:
        if not _number(value) or not 0 < value <= 1:
            self.problems.append(f"{path} = {value!r}: expected a fidelity in (0, 1]")
            return None
        return float(value)

    def nonnegative(self, path: str, value: Any) -> float | None:
        if not _number(value) or value < 0:
            self.problems.append(f"{path} = {value!r}: expected a number >= 0")
            return None
        return float(value)

    def unknown(self, path: str, table: dict[str, Any], allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                where = f"{path}.{key}" if path else key
                self.problems.append(f"{where}: unknown key; expected one of {', '.join(allowed)}")


def topology_from_dict(data: dict[str, Any], source: str = "topology") -> Topology:
    """Build and validate a :class:`Topology` from parsed TOML; :class:`TopologyError` if bad."""
    check = _Checker()
    check.unknown("", data, ("defaults", "network", "nodes", "links"))
    defaults = dict(DEFAULT_DURATIONS_NS)
    raw_defaults = data.get("defaults", {})
    if not isinstance(raw_defaults, dict):
        raw_defaults = {}
        check.problems.append("defaults: expected a table")
    check.unknown("defaults", raw_defaults, tuple(DEFAULT_DURATIONS_NS))
    for key, value in raw_defaults.items():
        if key in defaults and (v := check.nonnegative(f"defaults.{key}", value)) is not None:
            defaults[key] = v

    nodes: list[NodeSpec] = []
    raw_nodes = data.get("nodes", [])
    if not isinstance(raw_nodes, list) or not raw_nodes:
        check.problems.append("nodes: expected at least one [[nodes]] entry")
        raw_nodes = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_nodes):
        node = _node(check, f"nodes[{i}]", raw, defaults)
        name = raw.get("name") if isinstance(raw, dict) else None
        if isinstance(name, str) and name in seen:
            check.problems.append(f"nodes[{i}].name = {name!r}: duplicate node name")
            continue
        if isinstance(name, str):
            seen.add(name)  # links may name a node whose entry has other problems
        if node is not None:
            nodes.append(node)

    links = _links(check, data, seen)
    if check.problems:
        raise TopologyError(check.problems, source)
    return Topology(nodes, links)


def parse_gates(raw: Any, path: str = "gates") -> tuple[dict[str, GateSpec], list[str]]:
    """Gate specs from a ``gate -> fidelity | {fidelity, duration_ns}`` table, and every
    problem found (paths start with ``path``); ``measure`` and ``reset`` are added."""
    check = _Checker()
    gates: dict[str, GateSpec] = {}
    if not isinstance(raw, dict) or not raw:
        return {}, [f"{path}: expected a table of gate name -> fidelity"]
    for gname in sorted(raw):
        spec = _gate(check, f"{path}.{gname}", gname, raw[gname], DEFAULT_DURATIONS_NS)
        if spec is not None:
            gates[gname] = spec
    for extra in NON_GATES:
        gates.setdefault(extra, GateSpec(1.0, DEFAULT_DURATIONS_NS[f"{extra}_ns"]))
    return dict(sorted(gates.items())), check.problems


def _node(check: _Checker, path: str, raw: Any, defaults: dict[str, float]) -> NodeSpec | None:
    if not isinstance(raw, dict):
        check.problems.append(f"{path}: expected a table")
        return None
    check.unknown(path, raw, NODE_KEYS)
    before = len(check.problems)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or "|" in name:
        check.problems.append(f"{path}.name = {name!r}: expected a non-empty name without '|'")
    qubits = raw.get("qubits")
    if not isinstance(qubits, int) or isinstance(qubits, bool) or qubits < 1:
        check.problems.append(f"{path}.qubits = {qubits!r}: expected an integer >= 1")
    node_type = raw.get("node_type", "simulated")
    if not isinstance(node_type, str) or not node_type:
        check.problems.append(f"{path}.node_type = {node_type!r}: expected a name")
    flags = {}
    for flag, default in (("available", True), ("degraded", False)):
        flags[flag] = raw.get(flag, default)
        if not isinstance(flags[flag], bool):
            check.problems.append(f"{path}.{flag} = {flags[flag]!r}: expected true or false")
    gates: dict[str, GateSpec] = {}
    raw_gates = raw.get("gates")
    if not isinstance(raw_gates, dict) or not raw_gates:
        check.problems.append(f"{path}.gates: expected a table of gate name -> fidelity")
        raw_gates = {}
    for gname in sorted(raw_gates):
        spec = _gate(check, f"{path}.gates.{gname}", gname, raw_gates[gname], defaults)
        if spec is not None:
            gates[gname] = spec
    physics = _node_physics(check, path, raw)
    if len(check.problems) > before:
        return None
    assert isinstance(name, str) and isinstance(qubits, int)  # no problem: both checked
    for extra in NON_GATES:
        gates.setdefault(extra, GateSpec(1.0, defaults[f"{extra}_ns"]))
    return NodeSpec(name, qubits, dict(sorted(gates.items())), node_type, **flags, **physics)


NODE_KEYS = (
    "name",
    "qubits",
    "gates",
    "node_type",
    "available",
    "degraded",
    "t1_us",
    "t2_us",
    "coherence",
    "comm_qubits",
    "fidelity_scale",
)


def coherence_problem(t1_us: Any, t2_us: Any) -> str | None:
    """What is wrong with a (T1, T2) pair in µs, or ``None``."""
    for name, value in (("t1_us", t1_us), ("t2_us", t2_us)):
        if not _number(value) or value <= 0:
            return f"{name} = {value!r}: expected a number of microseconds > 0"
    if t2_us > 2 * t1_us:
        return f"t2_us = {t2_us!r}: T2 must be <= 2*T1 (t1_us = {t1_us!r})"
    return None


def _node_physics(check: _Checker, path: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Coherence times, the communication-qubit bound, the advertised degradation."""
    out: dict[str, Any] = {}
    preset = raw.get("coherence")
    t1, t2 = raw.get("t1_us"), raw.get("t2_us")
    if preset is not None:
        if not isinstance(preset, str) or preset not in COHERENCE_PRESETS:
            check.problems.append(
                f"{path}.coherence = {preset!r}: expected one of {', '.join(COHERENCE_PRESETS)}"
            )
        else:
            t1 = COHERENCE_PRESETS[preset][0] if t1 is None else t1
            t2 = COHERENCE_PRESETS[preset][1] if t2 is None else t2
    if (t1 is None) != (t2 is None):
        given = "t1_us" if t2 is None else "t2_us"
        check.problems.append(f"{path}.{given}: give both t1_us and t2_us (or a coherence preset)")
    elif t1 is not None and t2 is not None:
        problem = coherence_problem(t1, t2)
        if problem is not None:
            check.problems.append(f"{path}.{problem}")
        else:
            out.update(t1_us=float(t1), t2_us=float(t2))
    comm = raw.get("comm_qubits")
    if comm is not None:
        if not isinstance(comm, int) or isinstance(comm, bool) or comm < 1:
            check.problems.append(f"{path}.comm_qubits = {comm!r}: expected an integer >= 1")
        else:
            out["comm_qubits"] = comm
    scale = raw.get("fidelity_scale", 1.0)
    if not _number(scale) or not 0 < scale <= 1:
        check.problems.append(f"{path}.fidelity_scale = {scale!r}: expected a number in (0, 1]")
    else:
        out["fidelity_scale"] = float(scale)
    return out


def _gate(
    check: _Checker, path: str, name: str, raw: Any, defaults: dict[str, float]
) -> GateSpec | None:
    if name not in GATES and name not in NON_GATES:
        check.problems.append(
            f"{path}: unknown gate {name!r} (gate names are qiskit's: "
            "h, cx, rz, ...; plus measure and reset)"
        )
        return None
    if name in NON_GATES:
        default = defaults[f"{name}_ns"]
    else:
        default = defaults["one_qubit_ns" if GATES[name].num_qubits == 1 else "two_qubit_ns"]
    if isinstance(raw, dict):
        check.unknown(path, raw, ("fidelity", "duration_ns"))
        fid = check.fidelity(f"{path}.fidelity", raw.get("fidelity"))
        dur = check.nonnegative(f"{path}.duration_ns", raw.get("duration_ns", default))
    else:
        fid, dur = check.fidelity(path, raw), default
    return None if fid is None or dur is None else GateSpec(fid, dur)


def _links(check: _Checker, data: dict[str, Any], names: set[str]) -> list[LinkSpec]:
    links: dict[tuple[str, str], LinkSpec] = {}
    raw_links = data.get("links", [])
    if not isinstance(raw_links, list):
        check.problems.append("links: expected [[links]] entries")
        raw_links = []
    for i, raw in enumerate(raw_links):
        path = f"links[{i}]"
        if not isinstance(raw, dict):
            check.problems.append(f"{path}: expected a table")
            continue
        check.unknown(path, raw, ("a", "b", "fidelity", "latency_ms", "degraded"))
        a, b = raw.get("a"), raw.get("b")
        ok = True
        for end, value in (("a", a), ("b", b)):
            if value not in names:
                check.problems.append(
                    f"{path}.{end} = {value!r}: no such node (nodes: {', '.join(sorted(names))})"
                )
                ok = False
        if ok and a == b:
            check.problems.append(f"{path}: a link needs two different nodes, got {a!r} twice")
            ok = False
        fid = check.fidelity(f"{path}.fidelity", raw.get("fidelity"))
        lat = check.nonnegative(f"{path}.latency_ms", raw.get("latency_ms"))
        degraded = raw.get("degraded", False)
        if not ok or fid is None or lat is None:
            continue
        assert isinstance(a, str) and isinstance(b, str)  # both are node names
        link = LinkSpec(a, b, fid, lat, bool(degraded))
        if link.key in links:
            check.problems.append(f"{path}: duplicate link between {a!r} and {b!r}")
            continue
        links[link.key] = link
    network = data.get("network", {})
    if not isinstance(network, dict):
        check.problems.append("network: expected a table")
        network = {}
    check.unknown("network", network, ("all_to_all", "link_fidelity", "link_latency_ms"))
    if network.get("all_to_all", False) is True:
        fid = check.fidelity("network.link_fidelity", network.get("link_fidelity", 1.0))
        lat = check.nonnegative("network.link_latency_ms", network.get("link_latency_ms", 1.0))
        if fid is not None and lat is not None:
            ordered = sorted(names)
            for i, a in enumerate(ordered):
                for b in ordered[i + 1 :]:
                    links.setdefault((a, b), LinkSpec(a, b, fid, lat))
    elif network.get("all_to_all", False) is not False:
        check.problems.append(
            f"network.all_to_all = {network['all_to_all']!r}: expected true or false"
        )
    return list(links.values())


def load_topology(path: str | Path) -> Topology:
    """Read and validate a topology TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TopologyError([f"cannot read {path}: {exc.strerror or exc}"], str(path)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TopologyError([f"not valid TOML: {exc}"], str(path)) from None
    return topology_from_dict(data, str(path))
