"""Node types (DESIGN §6): what a simulated QPU offers and how executing on it goes.

A node type plugin (kind ``node_type``, registered through
``qorch_register_node_types``) describes a class of QPU: :meth:`NodeType.describe`
gives the gate set, fidelities and durations for a node of that type (a topology entry
may override them), and :meth:`NodeType.run` "executes" a fragment's operations — no
qubits exist; it accounts the duration, the fidelity the node delivered, and whether it
failed. Everything random comes from the ``rng`` passed in (NFR-001).

The built-in ``simulated`` type has presets: ``superconducting`` (fast gates, cx at
0.99, 16 qubits, T1/T2 of the ``superconducting`` coherence preset: 100/80 µs) and
``trapped-ion`` (slow gates, all-to-all Mølmer–Sørensen ``rxx`` at 0.995, 12 qubits,
the ``trapped-ion`` coherence preset). A topology entry's own coherence wins over its
node type's (:func:`qorch.node.serving.node_type_for`). Its options are
``[plugins.node_type.simulated]``.
"""

from __future__ import annotations

import math
import random
from typing import Any

import attrs

from qorch.gates import GATES
from qorch.interfaces import Outcome
from qorch.node.presets import PRESETS
from qorch.topology import GateSpec, NodeSpec


@attrs.frozen
class SimulatedOptions:
    """Options of ``simulated``: ``[plugins.node_type.simulated]``."""

    preset: str = attrs.field(
        default="superconducting",
        validator=attrs.validators.in_(tuple(PRESETS)),
        metadata={"doc": "gate set used when a node gives none: " + " | ".join(PRESETS)},
    )
    failure_rate: float = attrs.field(
        default=0.0,
        validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)],
        metadata={"doc": "chance that executing a fragment fails (a transient fault)"},
    )


class Simulated:
    """The built-in node type: presets, product-of-fidelities noise, seeded failures."""

    def __init__(self, options: SimulatedOptions | None = None) -> None:
        self.options = options or SimulatedOptions()

    def describe(self, name: str, preset: str | None = None) -> NodeSpec:
        """A node of ``preset`` (default: the configured one) called ``name``, with the
        preset's gates, capacity and coherence times."""
        table = PRESETS[preset or self.options.preset]
        gates = {g: GateSpec(f, d) for g, (f, d) in sorted(table["gates"].items())}
        t1_us, t2_us = table["coherence"]
        return NodeSpec(
            name, table["qubits"], gates, preset or self.options.preset, t1_us=t1_us, t2_us=t2_us
        )

    def run(
        self, spec: NodeSpec, ops: list[dict[str, Any]], rng: random.Random, fidelity_scale: float
    ) -> Outcome:
        """Critical-path duration over the ops' qubits; fidelity the product of the
        gates' (scaled) fidelities; fails with ``failure_rate``."""
        ready: dict[int, float] = {}
        logf, end = 0.0, 0.0
        for op in ops:
            name = op["name"]
            gate = spec.gates.get(name)
            if gate is None:
                return Outcome(0.0, 0.0, f"gate {name!r} is not offered by {spec.name}")
            qubits = op.get("qubits", [])
            start = max((ready.get(q, 0.0) for q in qubits), default=0.0)
            for q in qubits:
                ready[q] = start + gate.duration_ns
            end = max(end, start + gate.duration_ns)
            logf += math.log(max(gate.fidelity * fidelity_scale, 1e-300))
        if self.options.failure_rate and rng.random() < self.options.failure_rate:
            return Outcome(end, 0.0, "transient failure (simulated)")
        return Outcome(end, math.exp(logf))


def is_gate(name: str) -> bool:
    """A gate qorch knows, or ``measure`` / ``reset``."""
    return name in GATES or name in ("measure", "reset")
