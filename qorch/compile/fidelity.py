"""The fidelity a plan predicts (FR-004, FR-013): the Hellinger fidelity its counts should reach.

The achieved fidelity of a job is the Hellinger fidelity between its noisy counts and the
ideal outcome distribution (:mod:`qorch.runtime.world`). A product of gate fidelities
(the cost model's ``fidelity_risk`` term, which placement searches with) predicts that
badly, and so does assuming every error scrambles the whole output (a global
depolarizing model, this module's earlier one): most errors reach only the bits in their
forward light cone, a phase error before a measurement reaches none, and finite shots
alone lower a Hellinger fidelity (2,000 shots of a 12-qubit uniform distribution score
about 0.37 with no noise at all). So a plan's ``estimated_fidelity`` predicts the
measured quantity from the same events the world simulator runs, without simulating
any noise:

1. *The ideal distribution*, exactly: read off the final state when every measurement
   is final and nothing is reset or conditioned (:func:`ideal_outcomes`), else by
   enumerating the measurement branches (:func:`branch_outcomes`); at most
   :data:`PREDICT_QUBITS` qubits and clbits. A circuit with classical conditions is
   predicted branch by branch, grouped by what its conditions read
   (:mod:`qorch.compile.branches`), and the prediction is their mixture.
2. *Each error's reach* (:mod:`qorch.compile.lightcone`): every noise channel of the
   plan's executed circuit (:mod:`qorch.compile.physics`: gates, each ebit's Werner
   noise, protocol gates, readouts and corrections, and each wait's thermal relaxation
   as its Pauli twirl, with the *planned* idle times) and, per Pauli of it, the expected
   sign it puts on each measured bit — 1 outside its light cone, -1 for a sure flip, in
   between where non-Clifford gates spread it.
3. *The noisy distribution* (:func:`noisy_outcomes`): in the Walsh basis of the outcome
   bits each event multiplies the coefficient of bit set ``T`` by
   ``1 - Σ_k p_k (1 - Π_{c∈T} r_kc)``: an error randomizes or flips only the bits it
   reaches and leaves the ideal distribution of the others in place. Exact for Clifford
   circuits with Pauli noise (when the mean-field state is); otherwise an approximation
   that ignores interference between an error's paths (``tests/test_lightcone.py``).
4. *Shots* (:func:`expected_hellinger`): the expected Hellinger fidelity of ``shots``
   samples of that distribution against the ideal one, ``(Σ_x √(q_x/N) · E[√k_x])²``
   with ``k_x ~ Poisson(N·D_x)``; against a sampled ideal where the world simulator
   samples its reference (:data:`REFERENCE_SHOTS` shots).

When the ideal distribution is out of reach (more than 16 qubits or clbits, more than
:data:`~qorch.compile.equivalence.MAX_BRANCHES` branches, a conditional measurement or a
gate on three qubits in the executed circuit) the plan keeps the gate product and says so
(``fidelity_estimate = "gate-product"``). ``docs/benchmarks.md`` gives the measured error
of the estimate (``qorch bench estimator``).
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from typing import Any

import numpy as np
from qiskit.quantum_info import Statevector

from qorch.compile.branches import condition_branches, dependency, switches
from qorch.compile.executed import executed_circuit
from qorch.compile.lightcone import error_reach
from qorch.compile.physics import physical_run, planned_timing
from qorch.ir import Circuit
from qorch.qiskit_bridge import to_qiskit
from qorch.topology import Topology

#: the predictor reads the ideal distribution off a statevector of at most this many qubits
PREDICT_QUBITS = 16
#: how the estimate was made: ``output-distribution`` (this module) or ``gate-product``
OUTPUT_DISTRIBUTION = "output-distribution"
GATE_PRODUCT = "gate-product"
_TABLE = 1 << 22  # numbers in one chunk of the noisy-distribution tables
_GROUP = 1 << 15  # a group of events costs about as much as this many numbers of table
#: shots of the world simulator's sampled reference (``qorch.runtime.world.IDEAL_SHOTS``)
REFERENCE_SHOTS = 50_000
_POISSON_TERMS = 160  # E[√k] is summed exactly below λ = 60, asymptotically above
_cache: OrderedDict[str, Any] = OrderedDict()


def ideal_outcomes(circuit: Circuit, max_qubits: int) -> tuple[Any, Any] | None:
    """The noiseless outcome distribution as ``(outcomes, probabilities)`` numpy arrays —
    an outcome is the integer whose bit ``c`` is clbit ``c`` — or ``None`` when it cannot
    be read off the final state: a measurement before another operation on its qubit, a
    reset, a condition, or more than ``max_qubits`` qubits."""
    if circuit.num_qubits > max_qubits:
        return None
    key = circuit.digest()
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


def branch_outcomes(circuit: Circuit, max_qubits: int) -> tuple[Any, Any] | None:
    """The exact noiseless outcome distribution of a circuit with mid-circuit measurements,
    resets or conditions, as :func:`ideal_outcomes` gives it, by enumerating its
    measurement branches (:func:`qorch.compile.branches.condition_branches`); ``None``
    past ``max_qubits`` qubits or too many branches."""

    patterns = _cached(f"patterns:{max_qubits}", circuit, condition_branches, max_qubits)
    if patterns is None:
        return None
    found: dict[int, float] = {}
    for pattern in patterns:
        for v, p in zip(pattern.outcomes.tolist(), pattern.probs.tolist(), strict=True):
            found[v] = found.get(v, 0.0) + pattern.probability * p
    values = np.array(sorted(found), dtype=np.int64)
    return values, np.array([found[v] for v in values.tolist()])


def predicted_fidelity(
    circuit: Circuit, plan: Any, topology: Topology, shots: int | None = None
) -> float | None:
    """The expected Hellinger fidelity of ``plan``'s counts (module docstring), or ``None``
    when the ideal distribution or the noise's reach is out of reach. ``shots=None``:
    infinitely many."""
    if circuit.num_clbits > PREDICT_QUBITS:
        return None
    reference_shots = 0
    ideal = ideal_outcomes(circuit, PREDICT_QUBITS)
    if ideal is None:  # the world simulator samples its reference for these
        ideal = branch_outcomes(circuit, PREDICT_QUBITS)
        reference_shots = max(shots or 0, REFERENCE_SHOTS)
    if ideal is None:
        return None

    run = physical_run(executed_circuit(circuit, plan, topology), topology, planned_timing(plan))
    n = circuit.num_clbits
    parts = None
    if any(op.condition is not None for op in circuit.operations):
        parts = _cached(f"patterns:{PREDICT_QUBITS}", circuit, condition_branches, PREDICT_QUBITS)
    if not parts:  # no condition, or too many branches: conditions half-run (lightcone)
        reach = error_reach(run.events, run.num_qubits, n)
        noisy = None if reach is None else noisy_outcomes(ideal, reach, n)
    else:
        noisy = _by_pattern(run, parts, circuit)
    if noisy is None:
        return None
    return expected_hellinger(ideal[1], noisy[ideal[0]], shots, reference_shots)


def _by_pattern(run: Any, patterns: list[Any], circuit: Circuit) -> Any:
    """The noisy distribution as the mixture of each branch pattern's
    (:mod:`qorch.compile.branches`), or ``None`` where the reach is not modelled."""

    n, total = circuit.num_clbits, 0.0
    for pattern in patterns:
        fired, flipped = switches(run.events, circuit, pattern)
        depends = {
            m: dependency(run.events, run.num_qubits, n, fired, other, m)
            for m, other in flipped.items()
        }
        reach = error_reach(run.events, run.num_qubits, n, fired, depends)
        if reach is None:
            return None
        ideal = (pattern.outcomes, pattern.probs)
        total = total + pattern.probability * noisy_outcomes(ideal, reach, n)
    return total


def _cached(kind: str, circuit: Circuit, make: Any, max_qubits: int = PREDICT_QUBITS) -> Any:
    """``make(circuit, max_qubits)``, remembered by kind and circuit digest."""
    key = f"{kind}:{circuit.digest()}"
    if key not in _cache:
        _cache[key] = make(circuit, max_qubits)
        while len(_cache) > 16:
            _cache.popitem(last=False)
    _cache.move_to_end(key)
    return _cache[key]


def noisy_outcomes(ideal: tuple[Any, Any], reach: Any, num_clbits: int) -> Any:
    """The predicted outcome distribution (dense, ``2**num_clbits``) of the ideal one
    under the noise events' :class:`~qorch.compile.lightcone.Reach`: in the Walsh basis
    each event multiplies the coefficient of bit set ``T`` by
    ``1 - Σ_k p_k (1 - Π_{c∈T} r_kc)`` (its Paulis exclusive, each acting on the bits as
    independent flips of expected sign ``r_kc``), events independently."""

    n = num_clbits
    dense = np.zeros(2**n)
    dense[ideal[0]] = ideal[1]
    log_factor = np.zeros(2**n)
    masks = _merged(reach.bits.astype(np.int64) @ (1 << np.arange(n, dtype=np.int64)), reach)
    for mask in np.unique(masks).tolist():
        bits = tuple(c for c in range(n) if mask >> c & 1)
        events = np.flatnonzero(masks == mask)
        log_factor += _group_log_factor(bits, reach, events)[_subset_index(bits, n)]
    noisy = _walsh(_walsh(dense) * np.exp(log_factor)) / 2**n
    return np.clip(noisy, 0.0, None)


def _merged(masks: Any, reach: Any) -> Any:
    """``masks`` (the bits each event reaches) with the groups that are cheaper to table
    over a larger mask that contains them moved there (a group costs as much as about
    :data:`_GROUP` numbers of table)."""

    if not len(masks):
        return masks
    rows = (reach.probs > 0).sum(axis=1)
    values, inverse = np.unique(masks, return_inverse=True)
    size = np.array([1 << bin(v).count("1") for v in values.tolist()])
    count = np.bincount(inverse, weights=rows)
    target = list(range(len(values)))
    kept: list[int] = []
    for g in np.argsort(-size, kind="stable").tolist():
        for t in kept:
            if values[g] & ~values[t] == 0 and count[g] * (size[t] - size[g]) <= _GROUP:
                target[g] = t
                break
        else:
            kept.append(g)
    return values[np.array(target)][inverse]


def _group_log_factor(bits: tuple[int, ...], reach: Any, events: Any) -> Any:
    """``Σ_events log(1 - Σ_k p_k (1 - Π_{c∈T} r_kc))`` for every subset ``T`` of
    ``bits`` (subset ``j``: the members of ``bits`` at ``j``'s set bits), over the
    ``events`` (indices into ``reach``) that reach exactly ``bits``; in chunks of at
    most :data:`_TABLE` numbers."""

    out = np.zeros(2 ** len(bits))
    active = reach.probs[events] > 0
    per_event = max(1, int(active.sum(axis=1).max()))
    step = max(1, _TABLE // (per_event << len(bits)))
    for start in range(0, len(events), step):
        chunk = events[start : start + step]
        rows = np.flatnonzero(active[start : start + step].reshape(-1))
        probs = reach.probs[chunk].reshape(-1)[rows]
        ratios = reach.ratios[chunk][:, :, list(bits)].reshape(-1, len(bits))[rows]
        table = np.ones((len(rows), 1))
        for j in range(len(bits)):
            table = np.concatenate([table, table * ratios[:, j : j + 1]], axis=1)
        owner = rows // reach.probs.shape[1]
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        damage = np.add.reduceat(probs[:, None] * (1.0 - table), starts, axis=0)
        out += np.log(np.maximum(1.0 - damage, 1e-300)).sum(axis=0)
    return out


@functools.lru_cache(maxsize=256)
def _subset_index(bits: tuple[int, ...], n: int) -> Any:
    """For every bit set ``T`` of ``n`` bits: the index of ``T ∩ bits`` among the subsets
    of ``bits`` (as :func:`_group_log_factor` orders them)."""

    t = np.arange(2**n)
    out = np.zeros(2**n, dtype=np.int64)
    for j, c in enumerate(bits):
        out |= ((t >> c) & 1) << j
    return out


def _walsh(values: Any) -> Any:
    """The Walsh-Hadamard transform ``Σ_x v_x (-1)^{|T∩x|}`` (its own inverse up to
    ``2**n``)."""

    out = np.asarray(values, dtype=float)
    size = len(out)
    half = 1
    while half < size:
        view = out.reshape(-1, 2, half)
        out = np.stack((view[:, 0] + view[:, 1], view[:, 0] - view[:, 1]), axis=1).reshape(-1)
        half *= 2
    return out


def expected_hellinger(
    probs: Any, noisy: Any, shots: int | None, reference_shots: int = 0
) -> float:
    """The expected Hellinger fidelity between the ideal distribution ``probs`` (or, with
    ``reference_shots``, a sample of that many shots of it, as the world simulator draws
    when it cannot read the ideal off a final state) and ``shots`` samples of ``noisy``
    (the noisy probabilities of the same outcomes): ``(Σ_x E[√m_x/M] E[√k_x/N])²``,
    counts Poisson. ``shots=None``: the distribution itself."""

    ideal = np.sqrt(probs)
    if reference_shots:
        ideal = expected_sqrt_poisson(reference_shots * probs) / math.sqrt(reference_shots)
    if shots is None:
        overlap = float(np.sum(ideal * np.sqrt(noisy)))
    else:
        overlap = float(np.sum(ideal * expected_sqrt_poisson(shots * noisy)) / math.sqrt(shots))
    return min(1.0, overlap**2)


def expected_sqrt_poisson(lam: Any) -> Any:
    """``E[√k]`` for ``k ~ Poisson(λ)``, elementwise over the numpy array ``lam``: an exact
    sum below λ = 60 (over the distinct values), the asymptotic series
    ``√λ (1 − 1/(8λ) − 7/(128λ²))`` above (relative error below 1e-6 there)."""

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
