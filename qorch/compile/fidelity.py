"""The fidelity a plan predicts (FR-004, FR-013): the Hellinger fidelity its counts should reach.

The achieved fidelity of a job is the Hellinger fidelity between its noisy counts and the
ideal outcome distribution (:mod:`qorch.runtime.world`). A product of gate fidelities
(the cost model's ``fidelity_risk`` term, which placement searches with) predicts that
badly: many errors do not change the outcome distribution (a phase error before a
measurement, any error on a uniform output), and finite shots alone lower a Hellinger
fidelity (2,000 shots of a 12-qubit uniform distribution score about 0.37 with no noise
at all). So a plan's ``estimated_fidelity`` is predicted from the same information but
for the quantity that is measured:

1. *Survival* ``P``: the probability that no error happens, over exactly the channels
   the world simulator applies to the plan's executed circuit (:mod:`qorch.compile.physics`)
   under what the nodes and links advertise, with the *planned* idle times (the cost
   model's latencies): gates (a depolarizing channel of fidelity ``f`` on ``k`` qubits
   errs with weight ``(1 - f)(d + 1)/d``, ``d = 2^k``), each ebit's Werner noise, each
   protocol gate, readout and correction, and each wait's thermal relaxation (its Pauli
   twirl's error weight).
2. *Global depolarizing*: the outcome distribution is ``P`` times the ideal one (through
   the readout bit flips each measurement's fidelity implies) plus ``1 - P`` times the
   uniform distribution.
3. *Shots*: the expected Hellinger fidelity of ``shots`` samples of that distribution
   against the ideal one, ``(Σ_x √(q_x/N) · E[√k_x])²`` with ``k_x ~ Poisson(N·D_x)``.

This needs the ideal distribution, read exactly off the final state: when every
measurement is final, nothing is reset or conditioned and the circuit has at most
:data:`PREDICT_QUBITS` qubits and clbits. Otherwise the plan keeps the gate product and
says so (``fidelity_estimate = "gate-product"``). The model is pessimistic on deep
circuits whose errors partly cancel; ``docs/benchmarks.md`` and the harness report give
its measured error.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

from qorch.ir import Circuit
from qorch.topology import Topology

#: the predictor reads the ideal distribution off a statevector of at most this many qubits
PREDICT_QUBITS = 16
#: how the estimate was made: ``output-distribution`` (this module) or ``gate-product``
OUTPUT_DISTRIBUTION = "output-distribution"
GATE_PRODUCT = "gate-product"
_POISSON_TERMS = 160  # E[√k] is summed exactly below λ = 60, asymptotically above
_cache: OrderedDict[str, Any] = OrderedDict()


def ideal_outcomes(circuit: Circuit, max_qubits: int) -> tuple[Any, Any] | None:
    """The noiseless outcome distribution as ``(outcomes, probabilities)`` numpy arrays —
    an outcome is the integer whose bit ``c`` is clbit ``c`` — or ``None`` when it cannot
    be read off the final state: a measurement before another operation on its qubit, a
    reset, a condition, or more than ``max_qubits`` qubits."""
    if circuit.num_qubits > max_qubits:
        return None
    from qorch.compile.compiler import circuit_digest

    key = circuit_digest(circuit)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    result = _ideal_outcomes(circuit)
    _cache[key] = result
    while len(_cache) > 16:
        _cache.popitem(last=False)
    return result


def _ideal_outcomes(circuit: Circuit) -> tuple[Any, Any] | None:
    measured: set[int] = set()
    unitary: list[Any] = []
    measures: list[tuple[int, int]] = []
    for op in circuit.operations:
        if op.condition is not None or op.name == "reset":
            return None
        if op.name == "measure":
            measured.add(op.qubits[0])
            measures.append((op.qubits[0], op.clbits[0]))
        elif op.name != "barrier":
            if measured.intersection(op.qubits):
                return None
            unitary.append(op)
    import numpy as np
    from qiskit.quantum_info import Statevector

    from qorch.builtin.qiskit_bridge import to_qiskit

    probs = Statevector(to_qiskit(Circuit(circuit.qregs, circuit.cregs, unitary))).probabilities()
    index = np.nonzero(probs > 1e-12)[0]
    outcome = np.zeros(len(index), dtype=np.int64)
    bits: dict[int, int] = {}
    for q, c in measures:  # in order: a clbit measured twice keeps the last value
        bits[c] = q
    for c, q in bits.items():
        outcome |= ((index >> q) & 1) << c
    values, inverse = np.unique(outcome, return_inverse=True)
    return values, np.bincount(inverse, weights=probs[index])


def predicted_fidelity(
    circuit: Circuit, plan: Any, topology: Topology, shots: int | None = None
) -> float | None:
    """The expected Hellinger fidelity of ``plan``'s counts (module docstring), or ``None``
    when the ideal distribution is out of reach. ``shots=None``: infinitely many."""
    if circuit.num_clbits > PREDICT_QUBITS:
        return None
    ideal = ideal_outcomes(circuit, PREDICT_QUBITS)
    if ideal is None:
        return None
    import numpy as np

    log_survival, flips = _survival(circuit, plan, topology)
    survival = math.exp(log_survival)
    n = circuit.num_clbits
    outcomes, probs = ideal
    ideal_dense = np.zeros(2**n)
    ideal_dense[outcomes] = probs
    read = ideal_dense.copy()
    for c, q in sorted(flips.items()):
        if q > 0:
            view = read.reshape(-1, 2, 2**c)
            read = ((1.0 - q) * view + q * view[:, ::-1, :]).reshape(-1)
    noisy = survival * read[outcomes] + (1.0 - survival) / 2**n
    if shots is None:
        overlap = float(np.sum(np.sqrt(noisy * probs)))
    else:
        overlap = float(np.sum(np.sqrt(probs / shots) * expected_sqrt_poisson(shots * noisy)))
    return min(1.0, overlap**2)


def _lookahead(events: Any) -> list[tuple[tuple[bool, ...], int | None]]:
    """Per event: per qubit, whether a Z error there could still change the outcome —
    not if every later operation on the qubit is diagonal on it up to its measurement or
    reset (or there is none): Z commutes through them and a Z-basis readout ignores it;
    and, for a one-qubit event, the index of the measurement that is the very next
    operation on its qubit (an X error there is only a flip of that bit), else ``None``."""
    from qorch.gates import GATES, diagonal_on

    hidden: dict[int, bool] = {}  # qubit -> a Z here is invisible; default: nothing follows
    measured_next: dict[int, int | None] = {}  # qubit -> the measurement right after
    out: list[tuple[tuple[bool, ...], int | None]] = []
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        nxt = measured_next.get(event.qubits[0]) if len(event.qubits) == 1 else None
        out.append((tuple(not hidden.get(q, True) for q in event.qubits), nxt))
        op = event.op
        if op is None:
            continue
        if op.name in ("measure", "reset"):
            hidden[op.qubits[0]] = True
            measured_next[op.qubits[0]] = index if op.name == "measure" else None
            continue
        diag = diagonal_on(op.name) if op.name in GATES and len(op.qubits) <= 2 else ()
        for i, q in enumerate(op.qubits):
            measured_next[q] = None
            if not (diag and diag[i]):
                hidden[q] = False
    out.reverse()
    return out


def _survival(circuit: Circuit, plan: Any, topology: Topology) -> tuple[float, dict[int, float]]:
    """The log-probability that no channel errs visibly (but as a bit flip), and each
    clbit's flip probability, over the events of the plan's executed circuit with its
    planned idle times (:mod:`qorch.compile.physics`: what the world simulator runs). An
    error right before a measurement — readout, or an X/Y of the last wait or gate on a
    qubit whose next operation is that measurement — flips that bit only."""
    from qorch.compile.executed import executed_circuit
    from qorch.compile.physics import physical_run, planned_timing

    executed = executed_circuit(circuit, plan, topology)
    events = physical_run(executed, topology, planned_timing(plan)).events
    log_survival = 0.0
    flip_at: dict[int, float] = {}  # measurement event -> probability its bit flips
    last_measure: dict[int, int] = {}  # clbit -> its last measurement event
    for index, (event, (z_visible, measure)) in enumerate(
        zip(events, _lookahead(events), strict=True)
    ):
        if event.op is not None and event.op.name == "measure":
            last_measure[event.op.clbits[0]] = index
        if event.channel is None:
            continue
        pauli = event.channel.twirl()
        if measure is not None:  # only a flip of the bit measured next (Z: invisible)
            p = pauli.visible_error((False,))
            q = flip_at.get(measure, 0.0)
            flip_at[measure] = p * (1 - q) + q * (1 - p)
            continue
        log_survival += math.log(max(1.0 - pauli.visible_error(z_visible), 1e-300))
    flips = {c: flip_at.get(i, 0.0) for c, i in last_measure.items()}
    return log_survival, flips


def expected_sqrt_poisson(lam: Any) -> Any:
    """``E[√k]`` for ``k ~ Poisson(λ)``, elementwise over the numpy array ``lam``: an exact
    sum below λ = 60 (over the distinct values), the asymptotic series
    ``√λ (1 − 1/(8λ) − 7/(128λ²))`` above (relative error below 1e-6 there)."""
    import numpy as np

    lam = np.asarray(lam, dtype=float)
    out = np.empty_like(lam)
    big = lam >= 60.0
    x = lam[big]
    out[big] = np.sqrt(x) * (1.0 - 1.0 / (8.0 * x) - 7.0 / (128.0 * x * x))
    small, inverse = np.unique(lam[~big], return_inverse=True)
    k = np.arange(_POISSON_TERMS, dtype=float)
    log_fact = np.array([math.lgamma(i + 1.0) for i in range(_POISSON_TERMS)])
    values = np.empty(len(small))
    for start in range(0, len(small), 4096):  # bounded memory: 4096 x 160 at a time
        s = small[start : start + 4096, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_pmf = k * np.log(s) - s - log_fact
        log_pmf[:, 0] = -s[:, 0]
        values[start : start + 4096] = np.exp(log_pmf) @ np.sqrt(k)
    out[~big] = values[inverse]
    return out
