"""The fragment DAG (FR-004, FR-006): operations grouped into what one node runs at once.

Every prepared operation runs on one node (its *execution node*). Remote interactions are
their own fragments: ``entangle`` (a qubit's run is shared to another node: one ebit per
hop), ``disentangle`` (the share ends: a measurement there, a correction at home) and
``teleport`` (a qubit moves). The dependency graph follows every qubit wire and every
clbit (a measurement before the conditions that read it).

Fragments are the groups (node, generation), where an operation's generation is the
largest number of node changes on any dependency path into it. Every edge between two
fragments then goes to a strictly higher generation, so the fragment graph is acyclic
and every fragment is convex — a maximal run of one node's operations between its
interactions with other nodes.
"""

from __future__ import annotations

import attrs

from qorch.compile.distribute import Distribution
from qorch.problem import PlacementProblem

LOCAL, ENTANGLE, DISENTANGLE, TELEPORT = "local", "entangle", "disentangle", "teleport"


@attrs.frozen
class Element:
    """A node of the dependency graph: a prepared operation or a remote interaction.

    ``op`` is the operation index (local); ``ref`` indexes ``distribution.shares`` (entangle,
    disentangle) or ``distribution.moves`` (teleport).
    """

    kind: str
    op: int = -1
    ref: int = -1


@attrs.frozen
class FragmentSpec:
    """One fragment: its kind, node(s), elements in program order, and dependencies."""

    index: int
    kind: str
    nodes: tuple[int, ...]
    elements: tuple[Element, ...]
    depends_on: tuple[int, ...]


def build_fragments(problem: PlacementProblem, dist: Distribution) -> list[FragmentSpec]:
    """Group the distributed circuit into fragments with their dependencies."""
    ops = problem.ops
    before: dict[int, list[Element]] = {}
    after: dict[int, list[Element]] = {}
    for r, move in enumerate(dist.moves):
        before.setdefault(move.before, []).append(Element(TELEPORT, ref=r))
    for r, share in enumerate(dist.shares):
        before.setdefault(share.ops[0], []).append(Element(ENTANGLE, ref=r))
        after.setdefault(share.ops[-1], []).append(Element(DISENTANGLE, ref=r))

    def qubits_of(el: Element) -> tuple[int, ...]:
        if el.kind == LOCAL:
            return ops[el.op].qubits
        return ((dist.moves if el.kind == TELEPORT else dist.shares)[el.ref].qubit,)

    order: list[Element] = []
    for i in range(len(ops)):
        order.extend(before.get(i, ()))
        order.append(Element(LOCAL, op=i))
        order.extend(after.get(i, ()))

    last_on_qubit: dict[int, int] = {}
    last_write: dict[int, int] = {}
    reads: dict[int, list[int]] = {}
    preds: list[set[int]] = []
    for pos, el in enumerate(order):
        p: set[int] = set()
        for q in qubits_of(el):
            if q in last_on_qubit:
                p.add(last_on_qubit[q])
            last_on_qubit[q] = pos
        if el.kind == LOCAL:
            op = ops[el.op]
            read = op.condition.clbits if op.condition is not None else ()
            for c in read:
                if c in last_write:
                    p.add(last_write[c])
                reads.setdefault(c, []).append(pos)
            for c in op.clbits:  # a measurement writes its clbit
                if c in last_write:
                    p.add(last_write[c])
                p.update(reads.pop(c, []))
                last_write[c] = pos
        p.discard(pos)
        preds.append(p)

    # a local operation groups by its node; a remote interaction is a fragment of its own
    group = [
        dist.exec_node[el.op] if el.kind == LOCAL else -1 - pos for pos, el in enumerate(order)
    ]
    generation = [0] * len(order)
    for pos in range(len(order)):
        g, mine = 0, group[pos]
        for pred in preds[pos]:
            gp = generation[pred] if group[pred] == mine else generation[pred] + 1
            if gp > g:
                g = gp
        generation[pos] = g

    keys: dict[tuple[int, int], list[int]] = {}
    for pos in range(len(order)):
        keys.setdefault((generation[pos], group[pos]), []).append(pos)
    ordered = sorted(keys.items(), key=lambda kv: (kv[0][0], kv[1][0]))
    index_of_pos: dict[int, int] = {}
    for idx, (_key, members) in enumerate(ordered):
        for pos in members:
            index_of_pos[pos] = idx
    fragments = []
    for idx, (_key, members) in enumerate(ordered):
        deps = sorted({index_of_pos[p] for pos in members for p in preds[pos]} - {idx})
        first = order[members[0]]
        fragments.append(
            FragmentSpec(
                index=idx,
                kind=first.kind,
                nodes=_nodes(first, dist),
                elements=tuple(order[pos] for pos in members),
                depends_on=tuple(deps),
            )
        )
    return fragments


def _nodes(el: Element, dist: Distribution) -> tuple[int, ...]:
    if el.kind == LOCAL:
        return (dist.exec_node[el.op],)
    if el.kind == TELEPORT:
        m = dist.moves[el.ref]
        return (m.src, m.dest)
    s = dist.shares[el.ref]
    return (s.src, s.dest)
