"""Fallback policies (FR-007, NFR-002): what to do when a fragment failed on every attempt.

A fallback policy plugin (kind ``fallback``, ``[runtime] fallback``) decides, given the
failure, the plan that failed and the latest topology snapshot, how the job is planned
again — a :class:`Replan` — or that it is not (``None``). A lost node takes its qubits'
state with it and that state is entangled with the rest of the register, so every
fallback runs the new plan from the circuit's start (no-cloning: there is nothing to
resume from); the first run's records stay in the result. What the policies differ in
is what the new plan may change (decision 0008):

* ``replan-affected`` (default): only the *affected* qubits — those the failed plan kept
  on a node that failed the fragment at some point — are placed anew on the latest
  snapshot; every other qubit stays on the node(s) it had, so every fragment that did not
  involve a failed node keeps its node, its costs and its estimate. When the kept qubits
  leave no feasible plan, the whole circuit is re-planned (the fallback says so);
* ``replan-all``: plan the whole circuit again on the latest snapshot without the nodes
  that failed (the placement may change everywhere);
* ``none``: no fallback; the job fails with the fragment-level error.

In every case the nodes that failed the fragment are left out (a remote fragment's
healthy end stays usable), and nodes left out once stay out for the job.
"""

from __future__ import annotations

from qorch.errors import FragmentFailed
from qorch.interfaces import Replan
from qorch.plan import Plan
from qorch.topology import Topology


def qubit_nodes(plan: Plan) -> list[tuple[str, ...]]:
    """Per qubit, the nodes ``plan`` keeps it on (its initial node, then where teleports
    take it), in order of first visit."""
    nodes = [[home] for home in plan.initial_placement]
    for f in plan.fragments:
        if f.kind == "teleport" and f.nodes[1] not in nodes[f.qubits[0]]:
            nodes[f.qubits[0]].append(f.nodes[1])
    return [tuple(n) for n in nodes]


class ReplanAffected:
    """Place anew only the qubits that lived on a failed node; keep the others."""

    def replan_on(self, failure: FragmentFailed, plan: Plan, snapshot: Topology) -> Replan | None:
        """The latest snapshot minus the failed nodes; unaffected qubits kept in place."""
        failed = set(failure.failed)
        keep = {q: nodes for q, nodes in enumerate(qubit_nodes(plan)) if not failed & set(nodes)}
        return Replan(snapshot.without(failure.failed), keep, "affected")


class ReplanAll:
    """Plan the whole circuit again without the nodes of the failed fragment."""

    def replan_on(self, failure: FragmentFailed, plan: Plan, snapshot: Topology) -> Replan | None:
        """The latest snapshot minus the nodes that failed the fragment."""
        return Replan(snapshot.without(failure.failed))


class NoFallback:
    """Never re-plan: the job fails with the fragment-level error."""

    def replan_on(self, failure: FragmentFailed, plan: Plan, snapshot: Topology) -> Replan | None:
        """Always ``None``."""
        return None
