"""The world simulator (DESIGN §6): the plan as it was executed, with its noise and time.

The circuit simulated is the plan's executed circuit (:mod:`qorch.compile.executed`),
never the input: each fragment's native gates in an order consistent with the execution
records, every remote interaction as its protocol, with its noise and the qubits'
idle decoherence where they act (:mod:`qorch.compile.physics` says what and where; one
description serves this simulator and the fidelity estimator). The fragments' times come
from a :class:`Timing`: the execution records (``[world] idle_time = "measured"``: the
control plane's real waiting is physical waiting), the cost model's latencies
(``"planned"``: reproducible) or none. A share costs one extra qubit while it is open, a
teleport none (the protocols run in equivalent cheaper forms). The simulator's limit
(:data:`MAX_QUBITS`) counts data qubits; past :data:`MAX_SIMULATED_QUBITS` with the open
shares' halves (:data:`MAX_STATEVECTOR_QUBITS` for a strongly entangled state), nothing
is simulated and the result says why. Shots run as one density
matrix, statevector trajectories or matrix-product-state trajectories, whichever the
circuit makes cheapest (:func:`simulation_method`; exact in every case).

The reference is the input circuit itself, noiseless: its exact outcome distribution
(statevector probabilities) when every measurement is final and nothing is reset or
conditioned, else qiskit-aer's counts for at least :data:`IDEAL_SHOTS`. The achieved
fidelity is the Hellinger fidelity of the noisy counts and that reference.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit.library import Measure, Reset
from qiskit.quantum_info import hellinger_fidelity
from qiskit_aer import AerSimulator

from qorch.compile.executed import ExecutedCircuit, executed_circuit
from qorch.compile.fidelity import REFERENCE_SHOTS, ideal_outcomes
from qorch.compile.physics import PhysicalRun, Timing, physical_run, planned_timing
from qorch.ir import Circuit
from qorch.plan import Plan
from qorch.qasm_emit import to_qasm3
from qorch.qiskit_bridge import standard_gate, to_qiskit
from qorch.topology import Topology

__all__ = ["Timing", "WorldResult", "planned_timing", "simulate"]

MAX_QUBITS = 24
#: data qubits plus the halves of the shares open at once, as matrix product states
MAX_SIMULATED_QUBITS = 32
#: ... and as statevectors (each qubit doubles the work)
MAX_STATEVECTOR_QUBITS = 24
#: shots of the ideal reference run (at least the job's)
IDEAL_SHOTS = REFERENCE_SHOTS
DENSITY_MATRIX_QUBITS = 10
#: up to this many qubits statevector trajectories; past it, matrix product states when
#: a one-shot pilot's bond dimension stays below :data:`PILOT_BOND`
STATEVECTOR_QUBITS = 12
PILOT_BOND = 128
_pilot_log_length = 0  # how much of aer's matrix-product-state log earlier pilots wrote
#: the exact reference needs 2**n probabilities; past this many qubits it is sampled
EXACT_REFERENCE_QUBITS = 20
#: how long qubits wait (``[world] idle_time``)
IDLE_TIMES = ("measured", "planned", "none")


@attrs.frozen
class WorldResult:
    """Counts of the noisy run, the ideal run, how close they are, what was run."""

    shots: int
    simulated: bool
    counts: dict[str, int] = attrs.field(factory=dict)
    #: the reference distribution: exact probabilities, or counts when ``ideal_shots``
    ideal: dict[str, float] = attrs.field(factory=dict)
    achieved_fidelity: float | None = None
    reason: str | None = None
    noise_channels: int = 0
    ideal_shots: int = 0  # 0: the reference is exact
    executed_qasm3: str = ""  # the executed circuit, explicit protocols, no noise
    simulated_qubits: int = 0  # data qubits plus the share halves open at once
    idle_us: float = 0.0  # the qubits' waiting that decohered them, summed
    method: str = ""  # how aer ran it (:func:`simulation_method`)


def build_noisy_circuit(
    executed: ExecutedCircuit,
    topology: Topology,
    timing: Timing | None = None,
    fidelity_scales: dict[str, float] | None = None,
) -> tuple[Any, PhysicalRun]:
    """The simulated form of ``executed`` with its noise (a qiskit circuit: the data
    qubits, then the share halves; the input's classical registers), and the events it
    was made of."""

    run = physical_run(executed, topology, timing, fidelity_scales)
    cregs = executed.circuit.cregs[: _input_cregs(executed)]
    qc = QuantumCircuit(
        QuantumRegister(run.num_qubits, "q"), *(ClassicalRegister(r.size, r.name) for r in cregs)
    )
    for event in run.events:
        qubits = [qc.qubits[q] for q in event.qubits]
        if event.op is None:
            assert event.channel is not None  # an event is an operation or a channel
            error = event.channel.to_aer()
            if error is not None:  # a fresh instruction: circuits never share one
                qc.append(error.to_instruction(), qubits)
            continue
        op = event.op
        inst: Any = (
            Measure()
            if op.name == "measure"
            else Reset()
            if op.name == "reset"
            else standard_gate(op.name, op.params)
        )
        clbits = [qc.clbits[c] for c in op.clbits]
        if op.condition is None:
            qc.append(inst, qubits, clbits)
        else:
            with qc.if_test(_condition_target(qc, op.condition)):
                qc.append(inst, qubits, clbits)
    return qc, run


def _condition_target(qc: Any, cond: Any) -> tuple[Any, int]:
    if cond.register is None:
        return qc.clbits[cond.clbits[0]], cond.value
    for reg in qc.cregs:
        if reg.name == cond.register:
            return reg, cond.value
    raise ValueError(f"no classical register {cond.register!r}")


def _input_cregs(executed: ExecutedCircuit) -> int:
    total, count = 0, 0
    for reg in executed.circuit.cregs:
        if total >= executed.num_input_clbits:
            break
        total += reg.size
        count += 1
    return count


def simulate(
    circuit: Circuit,
    plan: Plan,
    topology: Topology,
    *,
    shots: int,
    seed: int,
    timing: Timing | None = None,
    fidelity_scales: dict[str, float] | None = None,
    order: tuple[str, ...] | None = None,
) -> WorldResult:
    """Run the executed circuit and the ideal one; compare them (module docstring).

    ``order`` is the fragments' execution order, ``timing`` their times (``None``: no
    idle decoherence), ``fidelity_scales`` what each fragment's nodes delivered relative
    to what the plan's topology says."""
    executed = executed_circuit(circuit, plan, topology, order)

    text = to_qasm3(executed.circuit)
    if circuit.num_qubits > MAX_QUBITS:
        return WorldResult(
            shots,
            False,
            reason=f"{circuit.num_qubits} qubits exceed the simulator's limit of {MAX_QUBITS}",
            executed_qasm3=text,
        )
    if circuit.num_clbits == 0:
        return WorldResult(shots, False, reason="the circuit measures nothing", executed_qasm3=text)
    noisy, run = build_noisy_circuit(executed, topology, timing, fidelity_scales)
    n = noisy.num_qubits
    method = simulation_method(noisy, shots, seed)
    if method is None:
        return WorldResult(
            shots,
            False,
            reason=(
                f"{circuit.num_qubits} qubits and {n - circuit.num_qubits} share halves open "
                f"at once exceed the simulator's limit ({MAX_SIMULATED_QUBITS} as matrix "
                f"product states of bond dimension below {PILOT_BOND}, else "
                f"{MAX_STATEVECTOR_QUBITS})"
            ),
            executed_qasm3=text,
            simulated_qubits=n,
        )
    counts = _run(noisy, shots, seed, method)
    ideal, ideal_shots = _reference(circuit, shots, seed)

    return WorldResult(
        shots,
        True,
        dict(sorted(counts.items())),
        dict(sorted(ideal.items())),
        hellinger_fidelity(counts, ideal),
        noise_channels=run.channels,
        idle_us=run.idle_us,
        ideal_shots=ideal_shots,
        executed_qasm3=text,
        simulated_qubits=n,
        method=method,
    )


def simulation_method(noisy: Any, shots: int, seed: int) -> str | None:
    """How to run ``noisy``: one density matrix when that is cheaper (at most
    :data:`DENSITY_MATRIX_QUBITS` qubits and ``shots >= 2**n``); statevector trajectories
    up to :data:`STATEVECTOR_QUBITS` qubits; past that, matrix product states (exact: no
    truncation) when the state stays weakly entangled — a one-shot pilot capped at
    :data:`PILOT_BOND` never reaches the cap — else statevectors up to
    :data:`MAX_STATEVECTOR_QUBITS`; ``None`` past every limit. Every method is exact: it
    changes the time a job takes, not the distribution its counts are drawn from."""
    n = noisy.num_qubits
    if n <= DENSITY_MATRIX_QUBITS and shots >= 2**n:
        return "density_matrix"
    if n <= STATEVECTOR_QUBITS:
        return "statevector"
    if n <= MAX_SIMULATED_QUBITS and pilot_bond_dimension(noisy, seed) < PILOT_BOND:
        return "matrix_product_state"
    return "statevector" if n <= MAX_STATEVECTOR_QUBITS else None


def pilot_bond_dimension(noisy: Any, seed: int) -> int:
    """The largest bond dimension one trajectory of ``noisy`` reaches as a matrix
    product state, up to :data:`PILOT_BOND` (the pilot is capped there, so it is cheap)."""

    pilot = AerSimulator(
        method="matrix_product_state",
        seed_simulator=seed,
        matrix_product_state_max_bond_dimension=PILOT_BOND,
        mps_log_data=True,
    )
    log = pilot.run(noisy, shots=1).result().results[0].metadata.get("MPS_log_data", "")
    # qiskit-aer 0.17 appends each run's log to those of the earlier runs in the process:
    # this run's entries are what follows the previous pilot's (worker processes are
    # recycled, which bounds the log's growth: qorch.runtime.workers)
    global _pilot_log_length
    seen = _pilot_log_length if len(log) > _pilot_log_length else 0
    _pilot_log_length = max(0, len(log) - 1)  # its closing brace moves on
    log = log[seen:]
    dims = [int(d) for group in re.findall(r"BD=\[([\d ]+)\]", log) for d in group.split()]
    return max(dims, default=1)


def _run(noisy: Any, shots: int, seed: int, method: str) -> dict[str, int]:

    options: dict[str, Any] = {"shot_branching_enable": True} if method == "statevector" else {}
    backend = AerSimulator(method=method, seed_simulator=seed, **options)
    return backend.run(noisy, shots=shots).result().get_counts()


def _reference(circuit: Circuit, shots: int, seed: int) -> tuple[dict[str, float], int]:
    """The ideal distribution and 0, or sampled ideal counts and their shots."""
    ideal = exact_distribution(circuit)
    if ideal is not None:
        return ideal, 0

    ideal_backend = AerSimulator(method="statevector", seed_simulator=seed + 1)
    ideal_shots = max(shots, IDEAL_SHOTS)  # the reference should carry little shot noise
    sampled = ideal_backend.run(to_qiskit(circuit), shots=ideal_shots).result().get_counts()
    return {k: float(v) for k, v in sampled.items()}, ideal_shots


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
