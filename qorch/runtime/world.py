"""The world simulator (DESIGN §6): the circuit as it was actually executed, with noise.

Given the circuit, its plan, the topology the plan ran on and, per fragment, the
fidelity scale the node reported in its execution record (1 normally, lower when a fault
degraded it), build the prepared circuit in operation order and follow each operation by
the noise of the node that ran it:

* a gate of fidelity ``f`` (the node's own, or the product of the native gates it was
  translated into, times the scale) by a depolarizing channel of average gate fidelity
  ``f`` on its qubits;
* a measurement of fidelity ``f`` by a bit flip of probability ``1 - f`` just before
  it; a reset by a bit flip after it;
* each remote interaction (a share or a teleport, fragment kind ``entangle`` or
  ``teleport``) by a one-qubit depolarizing channel of the fidelity of its link path on
  the qubit it carries, just before the first operation that needed it.

qiskit-aer runs the noisy circuit for the job's shots with the job's seed, and the
submitted circuit itself, noiseless, for at least :data:`IDEAL_SHOTS` — so a wrong
decomposition or distribution would show as lost fidelity; the achieved fidelity is the
Hellinger fidelity of the two count distributions. Nodes and links of fidelity 1
reproduce the ideal distribution up to shot noise. Past :data:`MAX_QUBITS` nothing is
simulated and the result says why.
"""

from __future__ import annotations

import itertools
from typing import Any

import attrs

from qorch.compile.native import NodeGates
from qorch.compile.plan import Plan
from qorch.compile.prepare import prepare
from qorch.ir import Circuit
from qorch.topology import Topology

MAX_QUBITS = 24
#: shots of the ideal reference run (at least the job's)
IDEAL_SHOTS = 50_000
DENSITY_MATRIX_QUBITS = 10


@attrs.frozen
class WorldResult:
    """Counts of the noisy run, the ideal run, and how close they are."""

    shots: int
    simulated: bool
    counts: dict[str, int] = attrs.field(factory=dict)
    ideal_counts: dict[str, int] = attrs.field(factory=dict)
    achieved_fidelity: float | None = None
    reason: str | None = None
    noise_channels: int = 0
    ideal_shots: int = 0


def _depolarizing(fidelity: float, num_qubits: int) -> Any | None:
    from qiskit_aer.noise import depolarizing_error

    if fidelity >= 1.0:
        return None
    d = 2**num_qubits
    lam = (1.0 - fidelity) * d / (d - 1)
    return depolarizing_error(min(lam, d * d / (d * d - 1)), num_qubits)


def _flip(probability: float) -> Any | None:
    from qiskit_aer.noise import pauli_error

    if probability <= 0.0:
        return None
    p = min(probability, 1.0)
    return pauli_error([("X", p), ("I", 1.0 - p)])


def build_executed_circuit(
    circuit: Circuit,
    plan: Plan,
    topology: Topology,
    fidelity_scales: dict[str, float] | None = None,
) -> tuple[Any, int]:
    """The executed circuit with its noise (qiskit), and how many noise channels it has."""
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
    from qiskit.circuit.library import Measure, Reset

    from qorch.builtin.qiskit_bridge import standard_gate

    scales = fidelity_scales or {}
    prepared = prepare(circuit)
    node_of: dict[int, str] = {}
    fragment_of: dict[int, str] = {}
    for f in plan.fragments:
        for op in f.ops:
            node_of[op.index] = f.node
            fragment_of[op.index] = f.id
    # remote interactions, placed before the first operation of a fragment that needs them
    first_op = {f.id: min((op.index for op in f.ops), default=None) for f in plan.fragments}
    remote_before: dict[int, list[tuple[int, float]]] = {}
    for f in plan.fragments:
        if f.kind not in ("entangle", "teleport"):
            continue
        users = [g for g in plan.fragments if f.id in g.depends_on and first_op[g.id] is not None]
        served = [first_op[g.id] for g in users if g.kind == "local"]
        if not served:
            continue
        fid = _path_fidelity(topology, f.path)
        remote_before.setdefault(min(served), []).append((f.qubits[0], fid))  # type: ignore[type-var]

    gates = {n.name: NodeGates(n) for n in topology.nodes}
    qregs = [QuantumRegister(r.size, r.name) for r in circuit.qregs]
    cregs = [ClassicalRegister(r.size, r.name) for r in circuit.cregs]
    noisy = QuantumCircuit(*qregs, *cregs)
    channels = 0

    def add_noise(error: Any | None, qubits: list[Any]) -> None:
        nonlocal channels
        if error is not None:
            noisy.append(error.to_instruction(), qubits)
            channels += 1

    for i, op in enumerate(prepared.ops):
        for qubit, fid in remote_before.get(i, []):
            add_noise(_depolarizing(fid, 1), [noisy.qubits[qubit]])
        node = node_of[i]
        scale = scales.get(fragment_of[i], 1.0)
        gate_fidelity = gates[node].fidelity(op.name) * scale
        qubits = [noisy.qubits[q] for q in op.qubits]
        clbits = [noisy.clbits[c] for c in op.clbits]
        if op.name == "measure":
            add_noise(_flip(1.0 - gate_fidelity), qubits)
            inst: Any = Measure()
        elif op.name == "reset":
            inst = Reset()
        else:
            inst = standard_gate(op.name, op.params)
        if op.condition is None:
            noisy.append(inst, qubits, clbits)
        else:
            _append_conditioned(noisy, inst, qubits, clbits, op.condition)
        if op.name == "reset":
            add_noise(_flip(1.0 - gate_fidelity), qubits)
        elif op.name != "measure":
            add_noise(_depolarizing(gate_fidelity, len(qubits)), qubits)
    return noisy, channels


def _append_conditioned(target: Any, inst: Any, qubits: list, clbits: list, cond: Any) -> None:
    bits = [target.clbits[c] for c in cond.clbits]
    with target.if_test((bits[0], cond.value) if len(bits) == 1 else _register(target, cond)):
        target.append(inst, qubits, clbits)


def _register(target: Any, cond: Any) -> tuple[Any, int]:
    for reg in target.cregs:
        if reg.name == cond.register:
            return reg, cond.value
    raise ValueError(f"no classical register {cond.register!r}")


def _path_fidelity(topology: Topology, path: tuple[str, ...]) -> float:
    fid = 1.0
    for a, b in itertools.pairwise(path):
        link = topology.link(a, b)
        if link is None:
            raise ValueError(f"the plan uses a link {a}-{b} the topology does not have")
        fid *= link.fidelity
    return fid


def simulate(
    circuit: Circuit,
    plan: Plan,
    topology: Topology,
    *,
    shots: int,
    seed: int,
    fidelity_scales: dict[str, float] | None = None,
) -> WorldResult:
    """Run the executed circuit and the ideal one; compare them (module docstring)."""
    if circuit.num_qubits > MAX_QUBITS:
        return WorldResult(
            shots,
            False,
            reason=f"{circuit.num_qubits} qubits exceed the simulator's limit of {MAX_QUBITS}",
        )
    if circuit.num_clbits == 0:
        return WorldResult(shots, False, reason="the circuit measures nothing")
    from qiskit_aer import AerSimulator

    noisy, channels = build_executed_circuit(circuit, plan, topology, fidelity_scales)
    method = "density_matrix" if circuit.num_qubits <= DENSITY_MATRIX_QUBITS else "statevector"
    backend = AerSimulator(method=method, seed_simulator=seed)
    counts = backend.run(noisy, shots=shots).result().get_counts()
    from qorch.builtin.qiskit_bridge import to_qiskit

    # the reference is the submitted circuit itself, not the compiler's decomposition of
    # it: a wrong decomposition or distribution shows up as lost fidelity
    ideal_backend = AerSimulator(method="statevector", seed_simulator=seed + 1)
    ideal_shots = max(shots, IDEAL_SHOTS)  # the reference should carry little shot noise
    reference = to_qiskit(circuit)
    ideal_counts = ideal_backend.run(reference, shots=ideal_shots).result().get_counts()
    from qiskit.quantum_info import hellinger_fidelity

    return WorldResult(
        shots,
        True,
        dict(sorted(counts.items())),
        dict(sorted(ideal_counts.items())),
        hellinger_fidelity(counts, ideal_counts),
        noise_channels=channels,
        ideal_shots=ideal_shots,
    )
