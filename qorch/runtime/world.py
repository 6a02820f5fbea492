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

qiskit-aer runs the noisy circuit for the job's shots with the job's seed (density
matrix when that is cheaper than ``shots`` statevector trajectories: up to
:data:`DENSITY_MATRIX_QUBITS` qubits and ``shots >= 2**n``). The reference is the
submitted circuit itself, noiseless — so a wrong decomposition or distribution shows as
lost fidelity: its exact outcome distribution (statevector probabilities) when every
measurement is final and nothing is reset or conditioned, else qiskit-aer's counts for at
least :data:`IDEAL_SHOTS`. The achieved fidelity is the Hellinger fidelity of the noisy
counts and that reference. Nodes and links of fidelity 1 reproduce the ideal
distribution up to shot noise. Past :data:`MAX_QUBITS` nothing is simulated and the
result says why.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from qorch.compile.fidelity import ideal_outcomes, path_fidelity
from qorch.compile.native import NodeGates
from qorch.compile.plan import Plan
from qorch.compile.prepare import prepare
from qorch.ir import Circuit
from qorch.topology import Topology

MAX_QUBITS = 24
#: shots of the ideal reference run (at least the job's)
IDEAL_SHOTS = 50_000
DENSITY_MATRIX_QUBITS = 10
#: the exact reference needs 2**n probabilities; past this many qubits it is sampled
EXACT_REFERENCE_QUBITS = 20


@attrs.frozen
class WorldResult:
    """Counts of the noisy run, the ideal run, and how close they are."""

    shots: int
    simulated: bool
    counts: dict[str, int] = attrs.field(factory=dict)
    #: the reference distribution: exact probabilities, or counts when ``ideal_shots``
    ideal: dict[str, float] = attrs.field(factory=dict)
    achieved_fidelity: float | None = None
    reason: str | None = None
    noise_channels: int = 0
    ideal_shots: int = 0  # 0: the reference is exact


@functools.lru_cache(maxsize=4096)
def _depolarizing(fidelity: float, num_qubits: int) -> Any | None:
    """The channel of average gate fidelity ``fidelity`` (cached: a node's gates repeat
    the same few fidelities; each use takes a fresh instruction of it)."""
    from qiskit_aer.noise import depolarizing_error

    if fidelity >= 1.0:
        return None
    d = 2**num_qubits
    lam = (1.0 - fidelity) * d / (d - 1)
    return depolarizing_error(min(lam, d * d / (d * d - 1)), num_qubits)


@functools.lru_cache(maxsize=4096)
def _flip(probability: float) -> Any | None:
    """A bit flip of ``probability`` (cached)."""
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
        fid = path_fidelity(topology, f.path)
        remote_before.setdefault(min(served), []).append((f.qubits[0], fid))  # type: ignore[type-var]

    gates = {n.name: NodeGates(n) for n in topology.nodes}
    qregs = [QuantumRegister(r.size, r.name) for r in circuit.qregs]
    cregs = [ClassicalRegister(r.size, r.name) for r in circuit.cregs]
    noisy = QuantumCircuit(*qregs, *cregs)
    channels = 0

    def add_noise(error: Any | None, qubits: list[Any]) -> None:
        nonlocal channels
        if error is not None:  # a fresh instruction: circuits never share one
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
    n = circuit.num_qubits
    dense = n <= DENSITY_MATRIX_QUBITS and shots >= 2**n
    backend = AerSimulator(method="density_matrix" if dense else "statevector", seed_simulator=seed)
    counts = backend.run(noisy, shots=shots).result().get_counts()
    ideal_shots = 0
    ideal = exact_distribution(circuit)
    if ideal is None:
        from qorch.builtin.qiskit_bridge import to_qiskit

        ideal_backend = AerSimulator(method="statevector", seed_simulator=seed + 1)
        ideal_shots = max(shots, IDEAL_SHOTS)  # the reference should carry little shot noise
        sampled = ideal_backend.run(to_qiskit(circuit), shots=ideal_shots).result().get_counts()
        ideal = {k: float(v) for k, v in sampled.items()}
    from qiskit.quantum_info import hellinger_fidelity

    return WorldResult(
        shots,
        True,
        dict(sorted(counts.items())),
        dict(sorted(ideal.items())),
        hellinger_fidelity(counts, ideal),
        noise_channels=channels,
        ideal_shots=ideal_shots,
    )


def exact_distribution(circuit: Circuit) -> dict[str, float] | None:
    """The noiseless outcome distribution, keyed like qiskit's counts (registers last to
    first, separated by spaces; clbit 0 rightmost) — or ``None`` when it cannot be read
    off the final state (:func:`qorch.compile.fidelity.ideal_outcomes`; at most
    :data:`EXACT_REFERENCE_QUBITS` qubits)."""
    ideal = ideal_outcomes(circuit, EXACT_REFERENCE_QUBITS)
    if ideal is None:
        return None
    sizes = [r.size for r in circuit.cregs]
    out: dict[str, float] = {}
    for value, p in zip(ideal[0].tolist(), ideal[1].tolist(), strict=True):
        parts, start = [], 0
        for size in sizes:
            parts.append(format((value >> start) & ((1 << size) - 1), f"0{size}b") if size else "")
            start += size
        out[" ".join(reversed(parts))] = p
    return out
