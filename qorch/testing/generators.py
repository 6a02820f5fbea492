"""Hypothesis strategies for circuits and topologies, shared by qorch's tests and packs."""

from __future__ import annotations

import math

import attrs
from hypothesis import strategies as st

from qorch.gates import GATES
from qorch.ir import Circuit, Condition, Operation, Register
from qorch.topology import Topology, topology_from_dict

#: universal gate sets a generated node may offer (the second and third need translation)
BASES = (
    ("h", "x", "s", "sdg", "t", "tdg", "rz", "rx", "ry", "p", "u", "cx", "cz", "cp", "rzz"),
    ("rz", "sx", "x", "cx"),
    ("rx", "ry", "rz", "rxx"),
)
GATE_POOL = ("h", "x", "t", "rz", "ry", "s", "cx", "cz", "cp", "rzz", "swap", "rxx", "ccx", "cswap")
ANGLES = st.floats(min_value=-math.pi, max_value=math.pi, allow_nan=False)


@st.composite
def circuits(
    draw: st.DrawFn, min_qubits: int = 2, max_qubits: int = 7, max_ops: int = 30
) -> Circuit:
    """Random circuits: 1-3 qubit gates, measurements, resets, register conditions."""
    n = draw(st.integers(min_qubits, max_qubits))
    nc = draw(st.integers(0, 3))
    ops = []
    for _ in range(draw(st.integers(1, max_ops))):
        kind = draw(st.sampled_from(["gate"] * 6 + ["measure", "reset"]))
        if kind == "measure" and nc:
            op = Operation("measure", [draw(st.integers(0, n - 1))], [draw(st.integers(0, nc - 1))])
        elif kind == "reset":
            op = Operation("reset", [draw(st.integers(0, n - 1))])
        else:
            name = draw(st.sampled_from([g for g in GATE_POOL if GATES[g].num_qubits <= n]))
            info = GATES[name]
            qubits = draw(st.permutations(range(n)))[: info.num_qubits]
            params = [draw(ANGLES) for _ in range(info.num_params)]
            op = Operation(name, qubits, (), params)
        if nc and op.name != "measure" and draw(st.integers(0, 9)) == 0:
            op = Operation(
                op.name,
                op.qubits,
                op.clbits,
                op.params,
                Condition(range(nc), draw(st.integers(0, 2**nc - 1)), "c"),
            )
        ops.append(op)
    return Circuit([Register("q", n)], [Register("c", nc)] if nc else [], ops)


@st.composite
def topologies(draw: st.DrawFn, qubits: int, max_nodes: int = 4) -> Topology:
    """Random connected topologies with room for ``qubits`` qubits and universal nodes."""
    k = draw(st.integers(2, max_nodes))
    caps = [draw(st.integers(1, qubits)) for _ in range(k)]
    while sum(caps) < qubits:
        caps[draw(st.integers(0, k - 1))] += 1
    fid = st.floats(min_value=0.9, max_value=1.0)
    nodes = []
    for i in range(k):
        basis = draw(st.sampled_from(BASES))
        nodes.append(
            {
                "name": f"n{i}",
                "qubits": caps[i],
                "gates": {g: draw(fid) for g in basis} | {"measure": draw(fid)},
            }
        )
    data: dict = {"nodes": nodes}
    if draw(st.booleans()):
        data["network"] = {
            "all_to_all": True,
            "link_fidelity": draw(fid),
            "link_latency_ms": draw(st.floats(0.1, 5.0)),
        }
    else:  # a line: some pairs are several hops apart
        data["links"] = [
            {
                "a": f"n{i}",
                "b": f"n{i + 1}",
                "fidelity": draw(fid),
                "latency_ms": draw(st.floats(0.1, 5.0)),
            }
            for i in range(k - 1)
        ]
    return topology_from_dict(data)


@st.composite
def split_topologies(draw: st.DrawFn, qubits: int) -> Topology:
    """A network in two disconnected parts: a linked part that holds all ``qubits`` and a
    part with no link to it (larger, so a strategy that ignores links is drawn to it)."""
    left = draw(topologies(qubits, max_nodes=3))
    right = draw(topologies(qubits, max_nodes=3))
    renamed = {n.name: "x" + n.name for n in right.nodes}
    nodes = [attrs.evolve(n, name=renamed[n.name], qubits=n.qubits + 1) for n in right.nodes]
    links = [attrs.evolve(lk, a=renamed[lk.a], b=renamed[lk.b]) for lk in right.links]
    return Topology((*left.nodes, *nodes), (*left.links, *links))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
ADVERT_FIELDS = (
    "schema", "version", "node_id", "peer_id", "addresses", "timestamp", "sequence",
    "ttl_s", "service_type", "availability", "qubit_range", "services", "links",
)  # fmt: skip


@st.composite
def corrupted_adverts(draw: st.DrawFn, valid: dict) -> dict | bytes:
    """``valid`` (an advert's wire dict) with one to three fields replaced by random JSON
    or removed — or, one time in four, random bytes instead (FR-001 fuzzing)."""
    if draw(st.booleans()) and draw(st.booleans()):
        return draw(st.binary(max_size=200))
    data = dict(valid)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(ADVERT_FIELDS))
        if draw(st.booleans()):
            data.pop(key, None)
        else:
            data[key] = draw(_JSON)
    return data
