"""The Plan (DESIGN §5, FR-004): fragments, their DAG, ebits, estimates, cost, provenance.

A plan is plain data with a canonical JSON form (sorted keys, no whitespace, floats as
Python writes them) whose sha256 is the plan digest: the same circuit, snapshot,
configuration and seed give the same bytes (NFR-001).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import attrs

from qorch.converters import converter

PLAN_VERSION = 1


@attrs.frozen
class PlanOp:
    """One operation of a fragment, in the executing node's native gates.

    ``index`` is its position among the compiler's prepared operations (each appears in
    exactly one fragment); ``source`` is the index of the operation in the circuit it came
    from; ``native`` lists the gates the node runs for it when it had to be translated.
    """

    index: int
    name: str
    qubits: tuple[int, ...]
    clbits: tuple[int, ...] = ()
    params: tuple[float, ...] = ()
    condition: dict[str, Any] | None = None
    source: int = -1
    native: tuple[dict[str, Any], ...] = ()


@attrs.frozen
class Fragment:
    """A unit the runtime schedules (FR-006).

    ``kind`` is ``local`` (ops on one node), ``entangle`` (share ``qubits[0]`` from
    ``nodes[0]`` to ``nodes[1]`` along ``path``), ``disentangle`` (end that share) or
    ``teleport`` (move ``qubits[0]``). ``serves`` lists the fragments whose remote gates an
    entangle makes possible;
    ``slice`` is, for a teleport, the time slice it belongs to (0 otherwise).
    """

    id: str
    kind: str
    nodes: tuple[str, ...]
    qubits: tuple[int, ...]
    ops: tuple[PlanOp, ...]
    depends_on: tuple[str, ...]
    ebits: int
    path: tuple[str, ...]
    duration_ms: float
    fidelity: float
    serves: tuple[str, ...] = ()
    slice: int = 0

    @property
    def node(self) -> str:
        """The node of a local fragment (the source node of a remote one)."""
        return self.nodes[0]


@attrs.frozen
class Plan:
    """Everything the runtime needs to run a circuit, and how it was made.

    ``initial_placement[q]`` is the node that holds qubit ``q`` (global index) at the start;
    teleport fragments move qubits later. ``estimated_fidelity`` is the Hellinger fidelity
    the counts are predicted to reach for ``shots`` (0: infinitely many shots), made as
    ``fidelity_estimate`` says — ``output-distribution`` or, when the ideal distribution is
    out of reach, ``gate-product`` (:mod:`qorch.compile.fidelity`); ``cost["fidelity_risk"]``
    is always one minus the gate product, the term placement searches with.
    """

    version: int
    circuit_digest: str
    snapshot_digest: str
    seed: int
    strategy: str
    cost_model: str
    min_fidelity: float
    num_qubits: int
    num_clbits: int
    num_ops: int
    initial_placement: tuple[str, ...]
    fragments: tuple[Fragment, ...]
    ebits: int
    moves: int
    estimated_fidelity: float
    estimated_duration_ms: float
    cost: dict[str, float]
    fidelity_estimate: str = "gate-product"
    shots: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what the JSON holds)."""

        return converter.unstructure(self)

    def canonical_json(self) -> str:
        """The canonical JSON text the digest is taken of."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    def digest(self) -> str:
        """sha256 of :meth:`canonical_json`."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def fragment(self, fid: str) -> Fragment:
        """The fragment with id ``fid``."""
        for f in self.fragments:
            if f.id == fid:
                return f
        raise KeyError(fid)


def plan_from_dict(data: dict[str, Any]) -> Plan:
    """A plan read back from :meth:`Plan.to_dict` (e.g. from the store)."""

    return converter.structure(data, Plan)
