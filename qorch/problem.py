"""What a placement strategy works on: qubits, nodes, capacities, and the interaction structure.

The structure is DESIGN §7's: each qubit's life is cut into *runs* by the operations that
act on it non-diagonally (1-qubit gates like ``h``, measurements, resets, and two-qubit
gates on their non-diagonal side). Within a run, one cat-entanglement share of the qubit
with another node serves every two-qubit gate diagonal on it whose partner sits there.
A placement's ebit count is then the size of the cheapest set of shares that serves every
remote gate (:mod:`qorch.compile.distribute` computes it exactly).

For fast search the problem also offers a *proxy hypergraph*: every two-qubit gate is
given to one run (the run that must carry it, or for a gate diagonal on both qubits, the
longer of the two runs), and a run costs the hops to each other node its partners sit on
— the connectivity-minus-one metric of pytket-dqc and DISQCO. The proxy is never below
the exact count, which the final choice between candidates uses.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import attrs

from qorch.gates import GATES, diagonal_on
from qorch.ir import Operation
from qorch.network import Network


@attrs.frozen
class TwoQubitGate:
    """A two-qubit gate of the prepared circuit with its runs.

    ``run_a``/``run_b`` are the run numbers of qubits ``a``/``b`` at this gate, or -1 on a
    side where the gate is not diagonal (that side cannot be shared: the gate runs where
    that qubit is).
    """

    op: int
    a: int
    b: int
    run_a: int
    run_b: int


@attrs.frozen
class Hyperedge:
    """A run of ``owner`` and the distinct partner qubits of the gates it carries (proxy)."""

    owner: int
    run: int
    partners: tuple[int, ...]


def _best(nodes: list[int], logf: list[float]) -> int:
    """The node of ``nodes`` with the highest ``logf`` (the lowest index on a tie)."""
    return max(nodes, key=lambda j: (logf[j], -j))


class PlacementProblem:
    """Everything a :class:`~qorch.compile.strategy.PlacementStrategy` needs, precomputed.

    Attributes:
        ops: the prepared operations (see :mod:`qorch.compile.prepare`).
        num_qubits: qubits to place.
        network: usable nodes, hops and paths; node ``j`` is ``network.names[j]``.
        capacity: data qubits each node can hold.
        eligible: per qubit, the node indices that can run every gate it takes part in
            at the required fidelity (sorted).
        gates2: the two-qubit gates with their runs.
        op_runs: per operation, per qubit of it, its run number there (-1 where the
            operation breaks runs).
        hyperedges: the proxy hypergraph; ``pins_of[q]`` lists ``(hyperedge, is_owner)``.
        local_logf: ``local_logf[q][j]``: log-fidelity contributed by the operations on
            qubit ``q`` if it lives on node ``j`` (two-qubit gates count half), for
            heterogeneous nodes.
        gate_logf: ``gate_logf[j][name]``: log-fidelity of gate ``name`` on node ``j``
            (translated into the node's native gates where needed), absent if unsupported.
    """

    def __init__(
        self,
        ops: tuple[Operation, ...],
        num_qubits: int,
        network: Network,
        gate_logf: list[dict[str, float]],
        eligible: list[list[int]],
    ) -> None:
        self.ops = ops
        self.num_qubits = num_qubits
        self.network = network
        self.k = len(network.nodes)
        self.capacity = [n.qubits for n in network.nodes]
        self.hops = network.hops
        self.gate_logf = gate_logf
        self.eligible = eligible
        self.op_runs, self.gates2, self.run_sizes = self._runs()
        self.hyperedges, self.pins_of = self._proxy()
        self.local_logf = self._local_logf()
        touched = {q for op in ops for q in op.qubits}
        self.used = [q in touched for q in range(num_qubits)]
        self.eligible_sets = [set(e) for e in eligible]
        # for local search: each qubit's hypergraph neighbours and its best node on its own
        neighbours: list[set[int]] = [set() for _ in range(num_qubits)]
        for h in self.hyperedges:
            for p in h.partners:
                neighbours[h.owner].add(p)
                neighbours[p].add(h.owner)
        self.neighbours = [sorted(n) for n in neighbours]
        self.best_alone = [
            _best(eligible[q], self.local_logf[q]) if eligible[q] else 0 for q in range(num_qubits)
        ]

    def _runs(self) -> tuple[list[tuple[int, ...]], list[TwoQubitGate], dict[tuple[int, int], int]]:
        run = [0] * self.num_qubits
        op_runs: list[tuple[int, ...]] = []
        gates2: list[TwoQubitGate] = []
        sizes: dict[tuple[int, int], int] = defaultdict(int)
        for i, op in enumerate(self.ops):
            if op.name in GATES and GATES[op.name].num_qubits == 2:
                da, db = diagonal_on(op.name)
                a, b = op.qubits
                ra = run[a] if da else -1
                rb = run[b] if db else -1
                op_runs.append((ra, rb))
                gates2.append(TwoQubitGate(i, a, b, ra, rb))
                for q, r in ((a, ra), (b, rb)):
                    if r >= 0:
                        sizes[(q, r)] += 1
                    else:
                        run[q] += 1
                        if not da and not db:  # pragma: no cover - prepare() prevents it
                            raise ValueError(f"{op.name} is not distributable")
                # a gate non-diagonal on a qubit ends that qubit's run (incremented above)
            elif op.name in GATES and diagonal_on(op.name)[0]:
                op_runs.append((run[op.qubits[0]],))
            else:
                for q in op.qubits:
                    run[q] += 1
                op_runs.append(tuple(-1 for _ in op.qubits))
        return op_runs, gates2, dict(sizes)

    def _proxy(self) -> tuple[list[Hyperedge], list[list[tuple[int, bool]]]]:
        partners: dict[tuple[int, int], list[int]] = {}
        for g in self.gates2:
            if g.run_a >= 0 and (g.run_b < 0 or self._prefer_a(g)):
                owner, run, other = g.a, g.run_a, g.b
            else:
                owner, run, other = g.b, g.run_b, g.a
            partners.setdefault((owner, run), [])
            if other not in partners[(owner, run)]:
                partners[(owner, run)].append(other)
        hyperedges = [Hyperedge(o, r, tuple(sorted(p))) for (o, r), p in sorted(partners.items())]
        pins_of: list[list[tuple[int, bool]]] = [[] for _ in range(self.num_qubits)]
        for e, h in enumerate(hyperedges):
            pins_of[h.owner].append((e, True))
            for p in h.partners:
                pins_of[p].append((e, False))
        return hyperedges, pins_of

    def _prefer_a(self, g: TwoQubitGate) -> bool:
        size_a = self.run_sizes.get((g.a, g.run_a), 0)
        size_b = self.run_sizes.get((g.b, g.run_b), 0)
        return (size_a, -g.a) >= (size_b, -g.b)

    def _local_logf(self) -> list[list[float]]:
        out = [[0.0] * self.k for _ in range(self.num_qubits)]
        for op in self.ops:
            share = 1.0 if len(op.qubits) == 1 else 0.5
            for j in range(self.k):
                value = self.gate_logf[j].get(op.name, -math.inf) * share
                for q in op.qubits:
                    out[q][j] += value
        return out

    # -- proxy cost ---------------------------------------------------------------------

    def proxy_cost(self, where: list[int]) -> float:
        """Proxy ebits of a static assignment (qubit -> node index)."""
        total = 0.0
        for h in self.hyperedges:
            home = where[h.owner]
            for node in {where[p] for p in h.partners}:
                if node != home:
                    total += self.hops[home][node]
        return total

    def describe(self) -> dict[str, Any]:
        """Sizes, for logs and benchmarks."""
        return {
            "qubits": self.num_qubits,
            "ops": len(self.ops),
            "nodes": self.k,
            "two_qubit_gates": len(self.gates2),
            "hyperedges": len(self.hyperedges),
        }
