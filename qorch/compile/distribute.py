"""From a placement to the cheapest set of shares and teleports (DESIGN §7), exactly.

Given where every qubit is at every operation, each remote two-qubit gate needs one of
its qubits shared by cat-entanglement to the other's node, and only a side on which the
gate is diagonal can be shared. A share of qubit ``q``'s current run (and current home)
to node ``B`` costs ``hops(home, B)`` ebits once and serves every such gate in that run.
Gates that only one side can carry force their share; the rest form a bipartite graph
per pair of nodes whose minimum vertex cover is the cheapest choice (all its vertices cost
the same hops), found exactly by :func:`qorch.compile.cover.min_vertex_cover`. A qubit
that changes node between slices is teleported: ``hops`` ebits, and its runs restart.
"""

from __future__ import annotations

import attrs

from qorch.compile.cover import min_vertex_cover
from qorch.network import UNREACHABLE
from qorch.placement import Placement
from qorch.problem import PlacementProblem

#: a candidate share: (qubit, run, epoch, destination node)
Vertex = tuple[int, int, int, int]


@attrs.frozen
class Share:
    """Qubit ``qubit`` shared from ``src`` to ``dest`` for the gates ``ops`` (op indices)."""

    qubit: int
    src: int
    dest: int
    ops: tuple[int, ...]
    hops: int


@attrs.frozen
class Move:
    """Qubit ``qubit`` teleported from ``src`` to ``dest`` just before operation ``before``.

    ``slice`` is the time slice it starts; the moves of one slice happen together (an
    exchange between two full nodes goes through their communication qubits).
    """

    qubit: int
    src: int
    dest: int
    before: int
    hops: int
    slice: int


@attrs.frozen
class Distribution:
    """Where every operation runs, and the shares and moves that make it possible."""

    exec_node: tuple[int, ...]
    shares: tuple[Share, ...]
    moves: tuple[Move, ...]

    @property
    def remotes(self) -> tuple[Share | Move, ...]:
        """Every share, then every move."""
        return (*self.shares, *self.moves)

    @property
    def ebits(self) -> int:
        """Ebits consumed: one per hop of every share and every move."""
        return sum(x.hops for x in self.remotes)

    @property
    def reachable(self) -> bool:
        """False if some share or move needs a path the network does not have."""
        return all(x.hops < UNREACHABLE for x in self.remotes)


def distribute(problem: PlacementProblem, placement: Placement) -> Distribution:
    """The minimum-ebit realisation of ``placement`` (exact for its runs)."""
    hops = problem.hops
    homes = list(placement.assign[0])
    epoch = [0] * problem.num_qubits
    moves: list[Move] = []
    exec_node = [0] * len(problem.ops)
    vertex_home: dict[Vertex, int] = {}
    forced: dict[Vertex, list[int]] = {}
    flexible: list[tuple[int, Vertex, Vertex]] = []
    next_slice = 1
    for i, op in enumerate(problem.ops):
        while next_slice < len(placement.starts) and placement.starts[next_slice] <= i:
            for q, node in enumerate(placement.assign[next_slice]):
                if node != homes[q]:
                    moves.append(Move(q, homes[q], node, i, hops[homes[q]][node], next_slice))
                    epoch[q] += 1
                    homes[q] = node
            next_slice += 1
        if len(op.qubits) != 2 or op.name in ("measure", "reset"):
            exec_node[i] = homes[op.qubits[0]]
            continue
        a, b = op.qubits
        ha, hb = homes[a], homes[b]
        if ha == hb:
            exec_node[i] = ha
            continue
        ra, rb = problem.op_runs[i]
        va = (a, ra, epoch[a], hb) if ra >= 0 else None
        vb = (b, rb, epoch[b], ha) if rb >= 0 else None
        if va is not None:
            vertex_home[va] = ha
        if vb is not None:
            vertex_home[vb] = hb
        if vb is None and va is not None:
            forced.setdefault(va, []).append(i)
            exec_node[i] = hb
        elif va is None and vb is not None:
            forced.setdefault(vb, []).append(i)
            exec_node[i] = ha
        else:
            assert va is not None and vb is not None  # prepare(): diagonal on some qubit
            flexible.append((i, va, vb))

    served: dict[Vertex, list[int]] = {v: list(ops) for v, ops in forced.items()}
    open_edges = []
    for i, va, vb in flexible:
        if va in served:
            served[va].append(i)
            exec_node[i] = va[3]
        elif vb in served:
            served[vb].append(i)
            exec_node[i] = vb[3]
        else:
            open_edges.append((i, va, vb))
    # Left side of the bipartite graph: shares towards a higher-numbered node.
    oriented = [(va, vb) if vertex_home[va] < va[3] else (vb, va) for _, va, vb in open_edges]
    cover = min_vertex_cover(oriented)
    for i, va, vb in open_edges:
        chosen = va if va in cover else vb
        served.setdefault(chosen, []).append(i)
        exec_node[i] = chosen[3]

    shares = tuple(
        Share(v[0], vertex_home[v], v[3], tuple(sorted(ops)), hops[vertex_home[v]][v[3]])
        for v, ops in sorted(served.items(), key=lambda kv: (min(kv[1]), kv[0]))
    )
    return Distribution(tuple(exec_node), shares, tuple(moves))
