"""Native gates: what a node runs for an IR gate, and at what fidelity and duration.

A node advertises gates by their IR names. A gate it lacks is translated into its gates
with qiskit's basis translator (``BasisTranslator`` and the session equivalence library);
the translation is cached per gate, parameters and basis. The fidelity of a translated
gate is the product of the fidelities of the native gates it becomes, its duration their
sum — so a node that must translate is honestly costed.
"""

from __future__ import annotations

import math
from functools import lru_cache

from qiskit import QuantumCircuit
from qiskit.circuit.equivalence_library import SessionEquivalenceLibrary
from qiskit.converters import circuit_to_dag, dag_to_circuit
from qiskit.transpiler.exceptions import TranspilerError
from qiskit.transpiler.passes import BasisTranslator

from qorch.gates import GATES
from qorch.qiskit_bridge import ir_name_of, standard_gate
from qorch.topology import NodeSpec

#: one native gate: (name, local qubit indices, params)
NativeGate = tuple[str, tuple[int, ...], tuple[float, ...]]
_GENERIC = 0.123456789  # parameter value for parameter-independent estimates


@lru_cache(maxsize=8192)
def translate(
    name: str, params: tuple[float, ...], basis: frozenset[str]
) -> tuple[NativeGate, ...] | None:
    """``name(params)`` in the gates of ``basis``, or ``None`` if it cannot be expressed."""
    if name in basis or name not in GATES:
        return ((name, tuple(range(GATES[name].num_qubits)) if name in GATES else (0,), params),)

    gate = standard_gate(name, params)
    qc = QuantumCircuit(gate.num_qubits)
    qc.append(gate, range(gate.num_qubits))
    target = sorted(basis - {"measure", "reset"})
    try:
        out = dag_to_circuit(
            BasisTranslator(SessionEquivalenceLibrary, target_basis=target).run(circuit_to_dag(qc))
        )
    except TranspilerError:
        return None
    gates: list[NativeGate] = []
    for instr in out.data:
        op = instr.operation
        if op.name == "global_phase":
            continue
        ir = ir_name_of(op)
        if ir is None or ir not in basis:
            return None
        gates.append(
            (
                ir,
                tuple(out.find_bit(q).index for q in instr.qubits),
                tuple(float(p) for p in op.params),
            )
        )
    return tuple(gates)


class NodeGates:
    """Per-node gate costs: log-fidelity and duration of any IR gate (translated if needed)."""

    def __init__(self, node: NodeSpec) -> None:
        self.node = node
        self.basis = frozenset(node.gates)
        self._cache: dict[str, tuple[float, float] | None] = {}

    def native(self, name: str, params: tuple[float, ...]) -> tuple[NativeGate, ...] | None:
        """The node's gates for ``name(params)``, or ``None`` if it cannot run it."""
        return translate(name, params, self.basis)

    def cost(self, name: str) -> tuple[float, float] | None:
        """``(log-fidelity, duration_ns)`` of gate ``name`` here, ``None`` if unsupported."""
        if name not in self._cache:
            if name in self.node.gates:
                spec = self.node.gates[name]
                self._cache[name] = (math.log(spec.fidelity), spec.duration_ns)
            else:
                params = tuple(_GENERIC for _ in range(GATES[name].num_params))
                gates = translate(name, params, self.basis)
                if gates is None:
                    self._cache[name] = None
                else:
                    specs = [self.node.gates[g] for g, _, _ in gates]
                    self._cache[name] = (
                        sum(math.log(s.fidelity) for s in specs),
                        sum(s.duration_ns for s in specs),
                    )
        return self._cache[name]

    def fidelity(self, name: str) -> float:
        """Fidelity of gate ``name`` here (0 if the node cannot run it)."""
        cost = self.cost(name)
        return 0.0 if cost is None else math.exp(cost[0])
