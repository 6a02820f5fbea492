"""Local search over static placements: moves and swaps on the proxy hypergraph.

With an ``anchor`` (where each qubit was in the previous time slice) a move also pays
the hops of the teleport it implies — the ``teleport`` strategy searches slice by slice
this way.

The state is an assignment qubit → node with, per hyperedge, how many of its partner
qubits sit on each node; moving a qubit changes only the hyperedges it pins, so a move's
effect is computed in time proportional to its degree. The gain of a move is the
linearised cost: ``ebit_weight`` × proxy ebits saved + ``logf_weight`` × log-fidelity
gained on the qubit's own gates. A pass visits qubits in a seeded random order and makes
the best improving move (or, into a full node, the best improving swap); passes repeat
until none improves.
"""

from __future__ import annotations

import random

from qorch.compile.strategy import Objective
from qorch.problem import PlacementProblem


class LocalSearch:
    """Hill-climbing on one static assignment (see the module docstring)."""

    def __init__(
        self,
        problem: PlacementProblem,
        objective: Objective,
        where: list[int],
        anchor: list[int] | None = None,
    ) -> None:
        self.p = problem
        self.anchor = anchor
        self.w_e = objective.ebit_weight
        self.w_f = objective.logf_weight
        self.where = list(where)
        self.load = [0] * problem.k
        for node in self.where:
            self.load[node] += 1
        self.uniform = problem.network.uniform
        # per hyperedge: partner count per node, only nodes with a positive count
        self.count: list[dict[int, int]] = []
        for h in problem.hyperedges:
            c: dict[int, int] = {}
            for q in h.partners:
                c[self.where[q]] = c.get(self.where[q], 0) + 1
            self.count.append(c)
        self.eligible = problem.eligible_sets

    def _owner_cost(self, e: int, home: int) -> int:
        c = self.count[e]
        if self.uniform:
            return len(c) - (home in c)
        hops = self.p.hops[home]
        return sum(hops[n] for n in c if n != home)

    def delta_ebits(self, x: int, dest: int) -> int:
        """Change of proxy ebits if qubit ``x`` moved to ``dest``."""
        src = self.where[x]
        hops = self.p.hops
        d = 0
        for e, is_owner in self.p.pins_of[x]:
            if is_owner:
                d += self._owner_cost(e, dest) - self._owner_cost(e, src)
                continue
            home = self.where[self.p.hyperedges[e].owner]
            c = self.count[e]
            if c.get(src, 0) == 1 and src != home:
                d -= hops[home][src]
            if dest not in c and dest != home:
                d += hops[home][dest]
        return d

    def gain(self, x: int, dest: int) -> float:
        """Decrease of the linearised cost if ``x`` moved to ``dest`` (positive is good)."""
        logf = self.p.local_logf[x]
        src = self.where[x]
        delta = self.delta_ebits(x, dest)
        if self.anchor is not None:  # moving away from where the qubit was costs a teleport
            hops = self.p.hops[self.anchor[x]]
            delta += hops[dest] - hops[src]
        return -self.w_e * delta + self.w_f * (logf[dest] - logf[src])

    def move(self, x: int, dest: int) -> None:
        """Move qubit ``x`` to node ``dest``, updating the counts."""
        src = self.where[x]
        for e, is_owner in self.p.pins_of[x]:
            if not is_owner:
                c = self.count[e]
                if c[src] == 1:
                    del c[src]
                else:
                    c[src] -= 1
                c[dest] = c.get(dest, 0) + 1
        self.where[x] = dest
        self.load[src] -= 1
        self.load[dest] += 1

    def candidates(self, x: int) -> list[int]:
        """Nodes a move of ``x`` could pay off on: its partners' nodes, its best node alone,
        and where it was in the previous slice."""
        nodes = {self.where[p] for p in self.p.neighbours[x]}
        nodes.add(self.p.best_alone[x])
        if self.anchor is not None:
            nodes.add(self.anchor[x])
        nodes.discard(self.where[x])
        return sorted(n for n in nodes if n in self.eligible[x])

    def _best_swap(self, x: int, dest: int, first: float) -> tuple[float, int | None]:
        src = self.where[x]
        self.move(x, dest)  # capacity is restored by the swap partner's move
        best, partner = 0.0, None
        for y in range(self.p.num_qubits):
            if y == x or self.where[y] != dest or src not in self.eligible[y]:
                continue
            total = first + self.gain(y, src)
            if total > best + 1e-12:
                best, partner = total, y
        self.move(x, src)
        return best, partner

    def refine(self, rng: random.Random, passes: int) -> None:
        """Improve the assignment until a pass finds nothing better (at most ``passes``)."""
        order = [q for q in range(self.p.num_qubits) if self.p.used[q]]
        for _ in range(passes):
            rng.shuffle(order)
            improved = False
            for x in order:
                src = self.where[x]
                best, best_dest, best_partner = 1e-9, None, None
                for dest in self.candidates(x):
                    g = self.gain(x, dest)
                    if self.load[dest] < self.p.capacity[dest]:
                        if g > best:
                            best, best_dest, best_partner = g, dest, None
                    elif g > 0:
                        total, partner = self._best_swap(x, dest, g)
                        if partner is not None and total > best:
                            best, best_dest, best_partner = total, dest, partner
                if best_dest is None:
                    continue
                self.move(x, best_dest)
                if best_partner is not None:
                    self.move(best_partner, src)
                improved = True
            if not improved:
                return
