"""The ``metis`` strategy: METIS k-way partition of the qubit interaction graph.

Edge weights come from qorch's proxy hypergraph: a run shared with ``m`` partners adds
``ceil(100 / m)`` between its owner and each partner, so a long run (one share serves
many gates) weighs less per partner than a lone gate. Target part weights are the node
capacities. METIS balances only approximately and knows nothing of gate sets, so the
result is repaired (qubits on full or ineligible nodes move to the eligible node with
room that costs least) and, by default, refined with qorch's local search. METIS also
knows nothing of links: on a network in several disconnected parts, a partition that
puts interacting qubits in different parts has no plan, and then qorch's greedy start
(which keeps interacting qubits in one part) is refined and used instead.
"""

from __future__ import annotations

import math
import random

import attrs
import pymetis

from qorch.builtin.default_placement import greedy_assignment
from qorch.compile.search import LocalSearch
from qorch.compile.strategy import Objective, feasible_assignment
from qorch.placement import Placement
from qorch.problem import PlacementProblem


@attrs.frozen
class MetisOptions:
    """Options of ``metis``: ``[plugins.placement.metis]``."""

    refine: bool = attrs.field(default=True, metadata={"doc": "refine with local search"})
    passes: int = attrs.field(
        default=8,
        validator=attrs.validators.ge(1),
        metadata={"doc": "local-search passes when refining"},
    )
    ufactor: int = attrs.field(
        default=30,
        validator=attrs.validators.ge(1),
        metadata={"doc": "METIS imbalance, in tenths of a percent"},
    )


def interaction_graph(problem: PlacementProblem) -> tuple[list[int], list[int], list[int]]:
    """CSR adjacency (xadj, adjncy, eweights) of the weighted qubit interaction graph."""
    weights: dict[tuple[int, int], int] = {}
    for h in problem.hyperedges:
        w = math.ceil(100 / len(h.partners))
        for p in h.partners:
            key = (min(h.owner, p), max(h.owner, p))
            weights[key] = weights.get(key, 0) + w
    adj: list[list[tuple[int, int]]] = [[] for _ in range(problem.num_qubits)]
    for (a, b), w in sorted(weights.items()):
        adj[a].append((b, w))
        adj[b].append((a, w))
    xadj, adjncy, eweights = [0], [], []
    for row in adj:
        for v, w in row:
            adjncy.append(v)
            eweights.append(w)
        xadj.append(len(adjncy))
    return xadj, adjncy, eweights


class Metis:
    """METIS partition of the interaction graph, repaired and refined."""

    def __init__(self, options: MetisOptions | None = None) -> None:
        self.options = options or MetisOptions()

    def place(
        self, problem: PlacementProblem, objective: Objective, rng: random.Random
    ) -> Placement:
        """Partition with METIS (seeded from ``rng``), then repair and refine."""
        k = problem.k
        if k == 1 or not problem.gates2:
            where = feasible_assignment(problem)
        else:
            xadj, adjncy, eweights = interaction_graph(problem)
            total = sum(problem.capacity)
            options = pymetis.Options(seed=rng.randrange(2**31), ufactor=self.options.ufactor)
            _cut, parts = pymetis.part_graph(
                k,
                pymetis.CSRAdjacency(xadj, adjncy),
                eweights=eweights,
                tpwgts=[c / total for c in problem.capacity],
                options=options,
            )
            where = self._repair(problem, objective, list(parts))
        assert where is not None
        objective.calibrate(Placement.static(where))
        placement = self._refined(problem, objective, where, rng)
        if objective.terms(placement).unreachable:
            start = greedy_assignment(problem, objective)
            if start is not None:
                placement = objective.best(
                    [placement, self._refined(problem, objective, start, rng)]
                )
        return placement

    def _refined(
        self, problem: PlacementProblem, objective: Objective, where: list[int], rng: random.Random
    ) -> Placement:
        if self.options.refine:
            search = LocalSearch(problem, objective, where)
            search.refine(rng, self.options.passes)
            where = search.where
        return Placement.static(where)

    @staticmethod
    def _repair(
        problem: PlacementProblem, objective: Objective, where: list[int]
    ) -> list[int] | None:
        load = [0] * problem.k
        keep: list[int | None] = []
        for q, node in enumerate(where):
            ok = node in problem.eligible[q] and load[node] < problem.capacity[node]
            keep.append(node if ok else None)
            if ok:
                load[node] += 1
        search = LocalSearch(problem, objective, [0 if n is None else n for n in keep])
        for q, node in enumerate(keep):
            if node is not None:
                continue
            free = [j for j in problem.eligible[q] if load[j] < problem.capacity[j]]
            if not free:
                return feasible_assignment(problem)
            best = max(free, key=lambda j: (search.gain(q, j), -j))
            keep[q] = best
            load[best] += 1
        return keep  # type: ignore[return-value]
