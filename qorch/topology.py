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
    address = "/ip4/10.0.0.5/tcp/4001/p2p/12D3..."  # optional: where a hub reaches it

    [[links]]
    a = "qpu-a"
    b = "qpu-b"
    fidelity = 0.97
    latency_ms = 2.0

Every problem is reported at once with its path (``nodes[1].gates.cx.fidelity``).
A node whose entry sets no coherence runs with its node type's, if that has any (the
``superconducting`` and ``trapped-ion`` types do; the default ``simulated`` does not):
:func:`qorch.node.serving.node_type_for`, so a live snapshot may carry coherence the file
leaves out.
``measure`` and ``reset`` are offered by every node (fidelity 1 unless listed).
``address`` is read only as the static inventory of the ``centralized`` orchestration
(:func:`load_addresses`, issue 17); ``qorch up`` and the harness fill it in.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NewType

import attrs

from qorch.converters import (
    Check,
    Invalid,
    Problem,
    Rejected,
    converter,
    integer,
    number,
    one_of,
    register_shorthand,
    structure,
    text,
)
from qorch.errors import QorchError
from qorch.gates import GATES

NON_GATES = ("measure", "reset")
#: coherence presets, (T1, T2) in µs: orders of magnitude (../shared/notes/protocols.md)
COHERENCE_PRESETS: dict[str, tuple[float, float]] = {
    "superconducting": (100.0, 80.0),
    "trapped-ion": (1e8, 1e6),
    "neutral-atom": (1e7, 1e6),
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
        return converter.unstructure(self)

    def digest(self) -> str:
        """sha256 of the canonical JSON of this topology."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _normal(link: LinkSpec) -> LinkSpec:
    a, b = link.key
    return attrs.evolve(link, a=a, b=b)


# -- reading files: the file form, checked by the converter (qorch.converters) -----------

GateName = NewType("GateName", str)
FIDELITY = number(0, 1, open_low=True, what="a fidelity")
DURATION = number(0)
MICROSECONDS = number(0, open_low=True, what="a number of microseconds")
#: a gate table must name at least one gate
GATE_TABLE = Check("a table of gate name -> fidelity", bool)
NAME = Check(
    "a non-empty name without '|'",
    lambda v: isinstance(v, str) and bool(v.strip()) and "|" not in v,
)


def _gate_name(value: Any, _type: Any) -> str:
    if not isinstance(value, str) or (value not in GATES and value not in NON_GATES):
        raise Invalid(
            f"unknown gate {value!r} (gate names are qiskit's: h, cx, rz, ...; plus measure "
            "and reset)"
        )
    return value


converter.register_structure_hook(GateName, _gate_name)


@attrs.frozen
class GateEntry:
    """One gate of a gate table: ``cx = {fidelity = 0.99, duration_ns = 300}``, or just
    ``cx = 0.99`` (the duration then comes from ``[defaults]``)."""

    fidelity: float = attrs.field(validator=FIDELITY)
    duration_ns: float | None = attrs.field(default=None, validator=DURATION.optional())


register_shorthand(GateEntry, "fidelity")

#: a node's (or an advert's) gates: name -> fidelity, or {fidelity, duration_ns}
GateTable = dict[GateName, GateEntry]


@attrs.frozen
class Durations:
    """``[defaults]``: the duration of a gate whose entry gives only a fidelity."""

    one_qubit_ns: float = attrs.field(default=50.0, validator=DURATION)
    two_qubit_ns: float = attrs.field(default=300.0, validator=DURATION)
    measure_ns: float = attrs.field(default=1000.0, validator=DURATION)
    reset_ns: float = attrs.field(default=1000.0, validator=DURATION)

    def of(self, gate: str) -> float:
        """The default duration of ``gate`` in ns."""
        if gate in NON_GATES:
            return float(getattr(self, f"{gate}_ns"))
        return self.one_qubit_ns if GATES[gate].num_qubits == 1 else self.two_qubit_ns


def gate_specs(
    table: Mapping[GateName, GateEntry] | Mapping[str, GateEntry],
    durations: Durations | None = None,
) -> dict[str, GateSpec]:
    """The gate specs of a gate table, sorted by name, with ``measure`` and ``reset``
    added (fidelity 1) when the table leaves them out."""
    durations = durations or Durations()
    gates = {
        name: GateSpec(e.fidelity, durations.of(name) if e.duration_ns is None else e.duration_ns)
        for name, e in table.items()
    }
    for extra in NON_GATES:
        gates.setdefault(extra, GateSpec(1.0, durations.of(extra)))
    return dict(sorted(gates.items()))


def coherence(
    t1_us: float | None, t2_us: float | None, hint: str = ""
) -> tuple[float, float] | None:
    """(T1, T2) in µs, or ``None`` when neither is given; :class:`~qorch.converters.Invalid`
    at the missing one when only one is, or at ``t2_us`` when T2 > 2 T1."""
    if t1_us is None and t2_us is None:
        return None
    if t1_us is None or t2_us is None:
        missing = "t1_us" if t1_us is None else "t2_us"
        raise Invalid(f"give both t1_us and t2_us{hint}", where=missing)
    if t2_us > 2 * t1_us:
        raise Invalid(f"T2 must be <= 2*T1 (t1_us = {t1_us!r})", t2_us, where="t2_us")
    return (t1_us, t2_us)


@attrs.frozen(kw_only=True)
class NodeEntry:
    """One ``[[nodes]]`` table (module docstring)."""

    name: str = attrs.field(validator=NAME)
    qubits: int = attrs.field(validator=integer(1))
    gates: GateTable = attrs.field(validator=GATE_TABLE)
    node_type: str = attrs.field(default="simulated", validator=Check("a name", bool))
    available: bool = True
    degraded: bool = False
    t1_us: float | None = attrs.field(default=None, validator=MICROSECONDS.optional())
    t2_us: float | None = attrs.field(default=None, validator=MICROSECONDS.optional())
    coherence: str | None = attrs.field(
        default=None, validator=one_of(*COHERENCE_PRESETS).optional()
    )
    comm_qubits: int | None = attrs.field(default=None, validator=integer(1).optional())
    fidelity_scale: float = attrs.field(default=1.0, validator=number(0, 1, open_low=True))
    address: str | None = attrs.field(default=None, validator=text(1024).optional())

    def __attrs_post_init__(self) -> None:
        self.coherence_us()

    def coherence_us(self) -> tuple[float, float] | None:
        """(T1, T2): the explicit times over the preset's."""
        t1, t2 = self.t1_us, self.t2_us
        if self.coherence is not None:
            preset = COHERENCE_PRESETS[self.coherence]
            t1, t2 = preset[0] if t1 is None else t1, preset[1] if t2 is None else t2
        return coherence(t1, t2, " (or a coherence preset)")

    def spec(self, durations: Durations) -> NodeSpec:
        """The node as the compiler sees it."""
        times = self.coherence_us()
        return NodeSpec(
            self.name,
            self.qubits,
            gate_specs(self.gates, durations),
            self.node_type,
            self.available,
            self.degraded,
            t1_us=None if times is None else times[0],
            t2_us=None if times is None else times[1],
            comm_qubits=self.comm_qubits,
            fidelity_scale=self.fidelity_scale,
        )


@attrs.frozen
class LinkEntry:
    """One ``[[links]]`` table; ``a`` and ``b`` must name nodes of the file."""

    a: str
    b: str
    fidelity: float = attrs.field(validator=FIDELITY)
    latency_ms: float = attrs.field(validator=DURATION)
    degraded: bool = False

    def __attrs_post_init__(self) -> None:
        if self.a == self.b:
            raise Invalid(f"a link needs two different nodes, got {self.a!r} twice")


@attrs.frozen
class NetworkEntry:
    """``[network]``: ``all_to_all`` links every pair not listed under ``[[links]]``."""

    all_to_all: bool = False
    link_fidelity: float = attrs.field(default=1.0, validator=FIDELITY)
    link_latency_ms: float = attrs.field(default=1.0, validator=DURATION)


@attrs.frozen(kw_only=True)
class TopologyFile:
    """A topology file (or a stored snapshot) as written, before it becomes a
    :class:`Topology`."""

    defaults: Durations = attrs.field(factory=Durations)
    network: NetworkEntry = attrs.field(factory=NetworkEntry)
    nodes: tuple[NodeEntry, ...] = attrs.field(
        validator=Check("at least one [[nodes]] entry", bool)
    )
    links: tuple[LinkEntry, ...] = ()

    def topology(self) -> tuple[Topology, list[Problem]]:
        """The topology, and the problems between entries (duplicate names and links)."""
        problems: list[Problem] = []
        nodes: dict[str, NodeSpec] = {}
        for i, entry in enumerate(self.nodes):
            if entry.name in nodes:
                problems.append(Problem(f"nodes[{i}].name", "duplicate node name", entry.name))
            else:
                nodes[entry.name] = entry.spec(self.defaults)
        links: dict[tuple[str, str], LinkSpec] = {}
        for i, e in enumerate(self.links):
            link = LinkSpec(e.a, e.b, e.fidelity, e.latency_ms, e.degraded)
            if link.key in links:
                problems.append(
                    Problem(f"links[{i}]", f"duplicate link between {e.a!r} and {e.b!r}")
                )
            links.setdefault(link.key, link)
        if self.network.all_to_all:
            net = self.network
            ordered = sorted(nodes)
            for i, a in enumerate(ordered):
                for b in ordered[i + 1 :]:
                    links.setdefault((a, b), LinkSpec(a, b, net.link_fidelity, net.link_latency_ms))
        return Topology(list(nodes.values()), list(links.values())), problems


def topology_from_dict(data: dict[str, Any], source: str = "topology") -> Topology:
    """Build and validate a :class:`Topology` from parsed TOML (or a stored snapshot's
    :meth:`Topology.to_dict`); :class:`TopologyError` with every problem if bad."""
    raw_nodes = data.get("nodes") if isinstance(data, dict) else None
    names = sorted(  # links may name a node whose entry has other problems
        {
            n["name"]
            for n in raw_nodes or ()
            if isinstance(n, dict) and isinstance(n.get("name"), str)
        }
    )
    node = Check(
        "the name of a node", lambda v: v in names, f"no such node (nodes: {', '.join(names)})"
    )
    try:
        file = structure(
            data, TopologyFile, checks={(LinkEntry, "a"): node, (LinkEntry, "b"): node}
        )
    except Rejected as exc:
        raise TopologyError([str(p) for p in exc.problems], source) from None
    topology, problems = file.topology()
    if problems:
        raise TopologyError([str(p) for p in problems], source)
    return topology


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TopologyError([f"cannot read {path}: {exc.strerror or exc}"], str(path)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TopologyError([f"not valid TOML: {exc}"], str(path)) from None


def load_topology(path: str | Path) -> Topology:
    """Read and validate a topology TOML file."""
    return topology_from_dict(_read(Path(path)), str(path))


def load_addresses(path: str | Path) -> dict[str, str]:
    """The ``address`` of every ``[[nodes]]`` entry of a topology file that has one: the
    static inventory of a hub (issue 17). The file is validated as a whole first."""
    data = _read(Path(path))
    topology_from_dict(data, str(path))
    return {n["name"]: n["address"] for n in data["nodes"] if n.get("address")}
