"""Fallback policies (FR-007, NFR-002): what to do when a fragment failed on every attempt.

A fallback policy plugin (kind ``fallback``, ``[runtime] fallback``) decides, given the
failure and the latest topology snapshot, on which topology the job is planned again —
or that it is not. The job's quantum state does not survive a lost node, so a new plan
runs the circuit again from its start; the first run's records stay in the result.

* ``replan-all`` (default): plan the whole circuit again on the latest snapshot with
  the nodes that failed the fragment marked unavailable (a remote fragment's healthy
  end stays usable);
* ``none``: no fallback; the job fails with the fragment-level error.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs

from qorch.runtime.runner import FragmentFailed
from qorch.topology import Topology


@runtime_checkable
class FallbackPolicy(Protocol):
    """The interface of a fallback policy plugin."""

    def replan_on(self, failure: FragmentFailed, snapshot: Topology) -> Topology | None:
        """The topology to plan the job on again, or ``None`` to let it fail."""
        ...


def without(snapshot: Topology, nodes: tuple[str, ...]) -> Topology:
    """``snapshot`` with ``nodes`` marked unavailable."""
    return Topology(
        [attrs.evolve(n, available=False) if n.name in nodes else n for n in snapshot.nodes],
        snapshot.links,
    )


class ReplanAll:
    """Plan the whole circuit again without the nodes of the failed fragment."""

    def replan_on(self, failure: FragmentFailed, snapshot: Topology) -> Topology | None:
        """The latest snapshot minus the nodes that failed the fragment."""
        return without(snapshot, failure.failed)


class NoFallback:
    """Never re-plan: the job fails with the fragment-level error."""

    def replan_on(self, failure: FragmentFailed, snapshot: Topology) -> Topology | None:
        """Always ``None``."""
        return None
