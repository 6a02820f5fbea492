"""The two orchestrations (issue 17, DESIGN §9): ``distributed`` and ``centralized``.

* ``distributed`` (the default, under either transport): nodes are discovered by their
  adverts, continuously; after reservation every node is handed its part of the plan
  and the nodes choreograph the execution among themselves
  (:class:`~qorch.runtime.choreography_runner.ChoreographyRunner`,
  :mod:`qorch.node.choreography`);
* ``centralized``: a hub with a static inventory (the topology file), polling the
  nodes' status; it dispatches every fragment and hears back from every node
  (:class:`~qorch.runtime.plan_runner.PlanRunner`); nodes never talk to each other.
"""

from __future__ import annotations

from typing import Any

from qorch.plan import Plan
from qorch.runtime.choreography_runner import ChoreographyRunner
from qorch.runtime.plan_runner import PlanRunner


class Distributed:
    """Nodes choreograph the plan; the coordinator hands out and collects."""

    discovery = "adverts"

    def runner(
        self, plan: Plan, run_id: str, client: Any, options: Any, listener: Any
    ) -> ChoreographyRunner:
        """A :class:`ChoreographyRunner`."""
        return ChoreographyRunner(plan, run_id, client, options, listener)


class Centralized:
    """A hub dispatches every fragment; its inventory is the topology file."""

    discovery = "static"

    def runner(
        self, plan: Plan, run_id: str, client: Any, options: Any, listener: Any
    ) -> PlanRunner:
        """A :class:`PlanRunner`."""
        return PlanRunner(plan, run_id, client, options, listener)
