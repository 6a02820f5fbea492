"""Placement strategies (FR-004): the interface, the objective they optimise, shared helpers.

A strategy is any object with ``place(problem, objective, rng) -> Placement``, registered
through ``qorch_register_placement_strategies`` and selected by ``[compiler] placement``
or ``--strategy``. It must return a placement that fits the capacities and puts every
qubit on one of its eligible nodes; all randomness must come from ``rng`` (NFR-001).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from qorch.interfaces import CostModel, CostTerms
from qorch.placement import Placement
from qorch.problem import PlacementProblem

#: cost of one interaction between nodes with no link path (above any plan's cost)
UNREACHABLE_COST = 1e15


class Objective:
    """The configured cost model applied to placements, exactly and linearised.

    ``cost(placement)`` is exact (cached): the compiler distributes the placement, builds
    its fragments and estimates it. For fast local search, ``ebit_weight`` (cost of one
    more ebit, including the link fidelity and latency it brings) and ``logf_weight``
    (cost of losing one unit of log-fidelity) linearise the model around a reference
    placement; :meth:`calibrate` sets them.
    """

    def __init__(
        self,
        model: CostModel,
        terms_of: Callable[[Placement], CostTerms],
        link_logf: float,
        link_latency_ms: float,
    ) -> None:
        self.model = model
        self._terms_of = terms_of
        self._cache: dict[Placement, CostTerms] = {}
        self.link_logf = link_logf
        self.link_latency_ms = link_latency_ms
        self.ebit_weight = 1.0
        self.logf_weight = 0.0
        self.evaluations = 0

    def terms(self, placement: Placement) -> CostTerms:
        """Exact cost terms of ``placement``."""
        if placement not in self._cache:
            self.evaluations += 1
            self._cache[placement] = self._terms_of(placement)
        return self._cache[placement]

    def cost(self, placement: Placement) -> float:
        """Exact cost of ``placement`` under the configured model.

        A placement with unreachable interactions has no plan: it costs
        :data:`UNREACHABLE_COST` per such interaction, more than any plan.
        """
        terms = self.terms(placement)
        if terms.unreachable:
            return UNREACHABLE_COST * terms.unreachable
        return self.model.cost(terms)

    def calibrate(self, reference: Placement) -> None:
        """Linearise the model around ``reference`` (finite differences).

        An unreachable reference, or a model whose slopes are not finite there, leaves
        the weights as they were (initially: one per ebit, none for fidelity).
        """
        t = self.terms(reference)
        if t.unreachable:
            return
        base = self.model.cost(t)
        fidelity = 1.0 - t.fidelity_risk
        eps = 1e-4
        risk_slope = (self.model.cost(_with(t, risk=t.fidelity_risk + eps)) - base) / eps
        latency_slope = self.model.cost(_with(t, latency=t.latency_ms + 1.0)) - base
        ebit_slope = self.model.cost(_with(t, ebits=t.ebits + 1)) - base
        # one more ebit also costs link fidelity and link latency
        ebit_weight = (
            ebit_slope
            - risk_slope * fidelity * self.link_logf
            + latency_slope * self.link_latency_ms
        )
        logf_weight = risk_slope * fidelity
        if math.isfinite(ebit_weight) and math.isfinite(logf_weight):
            self.ebit_weight, self.logf_weight = ebit_weight, logf_weight

    def best(self, candidates: Iterable[Placement]) -> Placement:
        """The cheapest candidate (the first among equals; a NaN cost counts as infinite)."""
        best: Placement | None = None
        best_cost = 0.0
        for placement in candidates:
            c = self.cost(placement)
            if math.isnan(c):
                c = math.inf
            if best is None or c < best_cost - 1e-12:
                best, best_cost = placement, c
        if best is None:
            raise ValueError("no candidate placements")
        return best


def _with(
    t: CostTerms,
    *,
    risk: float | None = None,
    latency: float | None = None,
    ebits: int | None = None,
) -> CostTerms:
    return CostTerms(
        latency_ms=t.latency_ms if latency is None else latency,
        fidelity_risk=t.fidelity_risk if risk is None else risk,
        ebits=t.ebits if ebits is None else ebits,
        moves=t.moves,
    )


# -- helpers shared by strategies ----------------------------------------------------------


def interaction_counts(problem: PlacementProblem) -> list[dict[int, int]]:
    """Per qubit, how many two-qubit gates it shares with each other qubit."""
    counts: list[dict[int, int]] = [{} for _ in range(problem.num_qubits)]
    for g in problem.gates2:
        counts[g.a][g.b] = counts[g.a].get(g.b, 0) + 1
        counts[g.b][g.a] = counts[g.b].get(g.a, 0) + 1
    return counts


def fill_unused(problem: PlacementProblem, where: list[int | None]) -> list[int] | None:
    """Put qubits that are still unplaced on eligible nodes with room (first fit)."""
    load = [0] * problem.k
    for node in where:
        if node is not None:
            load[node] += 1
    out: list[int] = []
    for q, node in enumerate(where):
        if node is None:
            free = [j for j in problem.eligible[q] if load[j] < problem.capacity[j]]
            if not free:
                return None
            node = free[0]
            load[node] += 1
        out.append(node)
    return out


def placed(where: list[int | None]) -> list[int]:
    """``where`` once every qubit has its node (one without is a bug: AssertionError)."""
    out = [node for node in where if node is not None]
    assert len(out) == len(where), "a qubit was left without a node"
    return out


def feasible_assignment(problem: PlacementProblem) -> list[int] | None:
    """Some assignment that respects eligibility and capacity, or ``None`` if none exists.

    Augmenting paths over node slots (a bipartite b-matching), so it finds one whenever
    one exists.
    """
    first_fit = fill_unused(problem, [None] * problem.num_qubits)
    if first_fit is not None:
        return first_fit
    owner: dict[tuple[int, int], int] = {}  # (node, slot) -> qubit
    where: list[int | None] = [None] * problem.num_qubits

    def slots(q: int) -> list[tuple[int, int]]:
        return [(j, s) for j in problem.eligible[q] for s in range(problem.capacity[j])]

    for q in range(problem.num_qubits):
        seen: set[tuple[int, int]] = set()
        stack = [(q, iter(slots(q)))]
        trail: list[tuple[int, tuple[int, int]]] = []
        done = False
        while stack and not done:
            cur, it = stack[-1]
            for slot in it:
                if slot in seen:
                    continue
                seen.add(slot)
                trail = [*trail[: len(stack) - 1], (cur, slot)]
                holder = owner.get(slot)
                if holder is None:
                    for qq, sl in trail:
                        owner[sl] = qq
                        where[qq] = sl[0]
                    done = True
                else:
                    stack.append((holder, iter(slots(holder))))
                break
            else:
                stack.pop()
        if not done:
            return None
    return placed(where)
