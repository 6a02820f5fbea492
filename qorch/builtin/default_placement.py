"""Built-in placement strategies (FR-004): ``greedy``, ``partition`` and ``teleport``.

* ``greedy`` places qubits one by one, in order of first use, on the node where their
  already-placed interaction partners are — a baseline.
* ``partition`` is a static k-way partition of the interaction hypergraph: several
  starts (greedy's result and seeded random ones) each refined by a Fiduccia–Mattheyses
  style local search of moves and swaps under the linearised cost model; the best
  refined candidate by the exact cost wins, so it is never worse than ``greedy``.
* ``teleport`` starts from ``partition`` and cuts the circuit into time slices; slice by
  slice it lets qubits move (one ebit per hop) when that lowers the cost of the slices
  ahead; it keeps the result only if its exact cost beats the static plan.
"""

from __future__ import annotations

import random

import attrs

from qorch.compile.search import LocalSearch
from qorch.compile.strategy import (
    Objective,
    feasible_assignment,
    fill_unused,
    interaction_counts,
    placed,
)
from qorch.placement import Placement
from qorch.problem import PlacementProblem


def greedy_assignment(problem: PlacementProblem, objective: Objective) -> list[int] | None:
    """Qubits in order of first use, each to the node holding most of its partners.

    Qubits that interact (directly or through others) stay in one connected part of the
    network: the first of a group goes where the whole group fits, if anywhere does.
    """
    counts = interaction_counts(problem)
    order: list[int] = []
    for op in problem.ops:
        for q in op.qubits:
            if q not in order:
                order.append(q)
    order += [q for q in range(problem.num_qubits) if q not in order]
    group = _interaction_groups(problem.num_qubits, counts)
    group_size = [group.count(g) for g in range(problem.num_qubits)]
    component = problem.network.component
    where: list[int | None] = [None] * problem.num_qubits
    load = [0] * problem.k
    group_home: dict[int, int] = {}  # interaction group -> network component
    for q in order:
        free = [j for j in problem.eligible[q] if load[j] < problem.capacity[j]]
        home = group_home.get(group[q])
        if home is None:
            room: dict[int, int] = {}
            for j in range(problem.k):
                room[component[j]] = room.get(component[j], 0) + problem.capacity[j] - load[j]
            fitting = [j for j in free if room[component[j]] >= group_size[group[q]]]
        else:
            fitting = [j for j in free if component[j] == home]
        best, best_key = None, None
        for j in fitting or free:
            together = sum(c for p, c in counts[q].items() if where[p] == j)
            key = (
                objective.ebit_weight * together + objective.logf_weight * problem.local_logf[q][j],
                problem.capacity[j] - load[j],
                -j,
            )
            if best_key is None or key > best_key:
                best, best_key = j, key
        if best is None:
            return None
        where[q] = best
        load[best] += 1
        group_home.setdefault(group[q], component[best])
    return placed(where)


def _interaction_groups(n: int, counts: list[dict[int, int]]) -> list[int]:
    """Connected components of the interaction graph: the smallest qubit of each."""
    group = list(range(n))
    for q in range(n):
        if group[q] != q:
            continue
        stack = [q]
        while stack:
            u = stack.pop()
            for v in counts[u]:
                if group[v] == v and v != q and v > q:
                    group[v] = q
                    stack.append(v)
    return group


def random_assignment(problem: PlacementProblem, rng: random.Random) -> list[int] | None:
    """Used qubits in random order on random eligible nodes with room; the rest fill in."""
    where: list[int | None] = [None] * problem.num_qubits
    load = [0] * problem.k
    order = [q for q in range(problem.num_qubits) if problem.used[q]]
    rng.shuffle(order)
    for q in order:
        free = [j for j in problem.eligible[q] if load[j] < problem.capacity[j]]
        if not free:
            return None
        node = rng.choice(free)
        where[q] = node
        load[node] += 1
    return fill_unused(problem, where)


class Greedy:
    """Qubits in order of first use, each placed with most of its partners."""

    def place(
        self, problem: PlacementProblem, objective: Objective, rng: random.Random
    ) -> Placement:
        """One pass, no search."""
        where = greedy_assignment(problem, objective) or feasible_assignment(problem)
        assert where is not None  # the compiler checked feasibility
        return Placement.static(where)


@attrs.frozen
class PartitionOptions:
    """Options of ``partition``: ``[plugins.placement.partition]``."""

    restarts: int = attrs.field(
        default=3,
        validator=attrs.validators.ge(0),
        metadata={"doc": "seeded random starts besides the greedy one"},
    )
    passes: int = attrs.field(
        default=12,
        validator=attrs.validators.ge(1),
        metadata={"doc": "most local-search passes per start"},
    )


class Partition:
    """Static k-way partition of the interaction hypergraph, refined by local search."""

    def __init__(self, options: PartitionOptions | None = None) -> None:
        self.options = options or PartitionOptions()

    def place(
        self, problem: PlacementProblem, objective: Objective, rng: random.Random
    ) -> Placement:
        """Refine greedy and random starts; return the best by exact cost."""
        start = greedy_assignment(problem, objective) or feasible_assignment(problem)
        assert start is not None
        objective.calibrate(Placement.static(start))
        starts = [start]
        for _ in range(self.options.restarts):
            candidate = random_assignment(problem, rng)
            if candidate is not None:
                starts.append(candidate)
        candidates = [Placement.static(start)]
        for s in starts:
            search = LocalSearch(problem, objective, s)
            search.refine(rng, self.options.passes)
            candidates.append(Placement.static(search.where))
        return objective.best(candidates)


@attrs.frozen
class TeleportOptions:
    """Options of ``teleport``: ``[plugins.placement.teleport]``."""

    slice_gates: int = attrs.field(
        default=0,
        validator=attrs.validators.ge(0),
        metadata={"doc": "two-qubit gates per time slice (0: half the number of qubits)"},
    )
    lookahead: int = attrs.field(
        default=3,
        validator=attrs.validators.ge(1),
        metadata={"doc": "slices of future gates a move must pay for itself in"},
    )
    passes: int = attrs.field(
        default=6,
        validator=attrs.validators.ge(1),
        metadata={"doc": "most local-search passes per slice"},
    )
    static_restarts: int = attrs.field(
        default=PartitionOptions().restarts,
        validator=attrs.validators.ge(0),
        metadata={"doc": "restarts of the static partition it starts from"},
    )
    static_passes: int = attrs.field(
        default=PartitionOptions().passes,
        validator=attrs.validators.ge(1),
        metadata={"doc": "local-search passes per start of that static partition"},
    )


class Teleport:
    """Time-sliced placement: qubits move between nodes (one ebit per hop) when it pays."""

    def __init__(self, options: TeleportOptions | None = None) -> None:
        self.options = options or TeleportOptions()
        self.static = Partition(
            PartitionOptions(self.options.static_restarts, self.options.static_passes)
        )

    def slices(self, problem: PlacementProblem) -> list[int]:
        """Start operation of each slice: a new slice every ``slice_gates`` 2-qubit gates."""
        per = self.options.slice_gates or max(2, problem.num_qubits // 2)
        starts = [0]
        for n, g in enumerate(problem.gates2):
            if n and n % per == 0:
                starts.append(g.op)
        return starts

    def place(
        self, problem: PlacementProblem, objective: Objective, rng: random.Random
    ) -> Placement:
        """Partition first, then let qubits move slice by slice; keep whichever is cheaper."""
        static = self.static.place(problem, objective, rng)
        starts = self.slices(problem)
        if len(starts) < 2:
            return static
        ends = [*starts[1:], len(problem.ops)]
        assign = [list(static.initial)]
        for s in range(1, len(starts)):
            window_end = ends[min(s + self.options.lookahead - 1, len(ends) - 1)]
            window = PlacementProblem(
                problem.ops[starts[s] : window_end],
                problem.num_qubits,
                problem.network,
                problem.gate_logf,
                problem.eligible,
            )
            search = LocalSearch(window, objective, assign[-1], anchor=assign[-1])
            search.refine(rng, self.options.passes)
            assign.append(search.where)
        # merge slices that do not change anything
        kept_starts, kept = [starts[0]], [tuple(assign[0])]
        for start, a in zip(starts[1:], assign[1:], strict=True):
            if tuple(a) != kept[-1]:
                kept_starts.append(start)
                kept.append(tuple(a))
        sliced = Placement(tuple(kept_starts), tuple(kept))
        return objective.best([static, sliced])
