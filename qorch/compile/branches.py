"""The ideal run's branches as its classical conditions see them (FR-004, FR-013).

For the fidelity estimator (:mod:`qorch.compile.fidelity`): a circuit whose operations
run under classical conditions is predicted branch by branch. The input circuit's
measurement branches are enumerated exactly (the branch simulator of
:mod:`qorch.compile.equivalence`) and grouped by what each conditioned operation reads;
each group (:class:`Pattern`) then runs without conditions. An error that flips a bit a
condition reads switches branch: :func:`dependency` says, per measured bit, how far its
observable moves when that bit reads the other value, from signed mean-field
observables (each bit's observable as a product of one-qubit operators, their signs
kept, so a correction that flips a bit is told from one that does nothing).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from qorch.compile.equivalence import MAX_BRANCHES, TOLERANCE, Branch, product_state
from qorch.compile.lightcone import transfer
from qorch.ir import Circuit

#: groups of branches told apart by what their conditions read, at most
MAX_PATTERNS = 16


@attrs.frozen(eq=False)
class Pattern:
    """Branches in which each conditioned operation of the circuit (in order) reads the
    value ``reads[j]`` off its condition's bits; their probability and outcome
    distribution given that (``outcomes``, ``probs`` summing to 1)."""

    reads: tuple[int, ...]
    probability: float
    outcomes: Any
    probs: Any


def condition_branches(circuit: Circuit, max_qubits: int) -> list[Pattern] | None:
    """The :class:`Pattern` s of ``circuit``'s ideal run, enumerated exactly; ``None``
    past ``max_qubits`` qubits, :data:`MAX_PATTERNS` patterns or
    :data:`~qorch.compile.equivalence.MAX_BRANCHES` branches."""

    if circuit.num_qubits > max_qubits:
        return None
    ops = circuit.operations
    tail = _final_part(ops)
    start = Branch(product_state(circuit.num_qubits, []), circuit.num_clbits, lambda _i: 0)
    stack: list[tuple[Any, int, float, tuple[int, ...]]] = [(start, 0, 1.0, ())]
    found: dict[tuple[int, ...], dict[int, float]] = {}
    leaves = 0
    while stack:
        branch, pos, weight, reads = stack.pop()
        while pos < tail:
            op = ops[pos]
            if op.condition is not None:
                bits = op.condition.clbits
                reads = (*reads, sum(branch.bits[c] << i for i, c in enumerate(bits)))
            if op.name in ("measure", "reset") and branch.holds(op):
                stack.extend(_split(branch, op, pos, weight, reads))
                break
            branch.run(op)
            pos += 1
        else:
            leaves += 1
            dist = found.setdefault(reads, {})
            for outcome, p in _final_outcomes(branch, ops[tail:]).items():
                dist[outcome] = dist.get(outcome, 0.0) + weight * p
            if leaves > MAX_BRANCHES or len(found) > MAX_PATTERNS:
                return None
    out = []
    for reads, dist in sorted(found.items()):
        values = np.array(sorted(dist), dtype=np.int64)
        probs = np.array([dist[v] for v in values.tolist()])
        out.append(Pattern(reads, float(probs.sum()), values, probs / probs.sum()))
    return out


def _final_part(ops: Any) -> int:
    """Where the part of ``ops`` starts that has no condition or reset and measures each
    qubit at most once, after its last gate: its distribution is read off the state."""
    touched_after: set[int] = set()
    measured: set[int] = set()
    for pos in range(len(ops) - 1, -1, -1):
        op = ops[pos]
        if op.condition is not None or op.name == "reset":
            return pos + 1
        if op.name == "measure":
            if op.qubits[0] in touched_after or op.qubits[0] in measured:
                return pos + 1
            measured.add(op.qubits[0])
        elif op.name != "barrier":
            touched_after.update(op.qubits)
    return 0


def _final_outcomes(branch: Any, ops: Any) -> dict[int, float]:
    """Run the unitary ``ops`` on ``branch`` and read its final measurements: outcome
    (the branch's bits with the measured ones) -> probability."""
    measures = []
    for op in ops:
        if op.name == "measure":
            measures.append((op.qubits[0], op.clbits[0]))
        elif op.name != "barrier":
            branch.gate(op.name, op.qubits, op.params)
    probs = np.abs(branch.state.reshape(-1)) ** 2  # index bit n-1-axis: bit q is qubit q
    base = sum(bit << i for i, bit in enumerate(branch.bits))
    for _q, c in measures:
        base &= ~(1 << c)
    index = np.nonzero(probs > 1e-14)[0]
    outcome = np.full(len(index), base, dtype=np.int64)
    for q, c in measures:
        outcome |= ((index >> q) & 1) << c
    out: dict[int, float] = {}
    for value, p in zip(outcome.tolist(), probs[index].tolist(), strict=True):
        out[value] = out.get(value, 0.0) + p
    return out


def _split(branch: Any, op: Any, pos: int, weight: float, reads: tuple[int, ...]) -> list:
    """The two outcomes of measuring or resetting ``op``'s qubit, as new stack entries."""

    q = op.qubits[0]
    p1 = branch.probability_one(q)
    out = []
    for outcome, p in ((1, p1), (0, 1.0 - p1)):
        if p < TOLERANCE:
            continue
        child = Branch(branch.state.copy(), len(branch.bits), branch.policy)
        child.bits, child.measured = list(branch.bits), branch.measured
        child.project(q, outcome)
        if op.name == "measure":
            child.bits[op.clbits[0]] = outcome
        elif outcome:
            child.gate("x", op.qubits, ())
        out.append((child, pos + 1, weight * p, reads))
    return out


def _keyed(ops: Any) -> Any:
    """Per conditioned operation: its condition's bits, value, and how many times each of
    those bits was measured before it (the executed circuit keeps each bit's measurements
    in order; a conditioned operation may have become several native ones)."""
    writes: dict[int, int] = {}
    for op in ops:
        if op is None:
            continue
        if op.condition is not None:
            bits = op.condition.clbits
            yield bits, op.condition.value, tuple(writes.get(c, 0) for c in bits)
        if op.name == "measure":
            writes[op.clbits[0]] = writes.get(op.clbits[0], 0) + 1


def switches(events: Any, circuit: Circuit, pattern: Pattern) -> tuple[dict[int, bool], dict]:
    """For ``pattern``: which conditioned events run (event index -> bool), and per
    measurement event whose bit a later condition reads, which run if that bit read the
    other value (measurement event index -> such a map)."""
    reads = dict(zip(_keyed(circuit.operations), pattern.reads, strict=True))
    ops = [event.op for event in events]
    indices = [i for i, op in enumerate(ops) if op is not None and op.condition is not None]
    keys = dict(zip(indices, _keyed(ops), strict=True))
    fired = {i: reads[key] == key[1] for i, key in keys.items()}
    flipped: dict[int, dict[int, bool]] = {}
    writes: dict[int, int] = {}
    for m, op in enumerate(ops):
        if op is None or op.name != "measure":
            continue
        k = op.clbits[0]
        writes[k] = writes.get(k, 0) + 1
        changed = {}
        for i, (bits, value, seen) in keys.items():
            if i > m and k in bits and seen[bits.index(k)] == writes[k]:
                changed[i] = (reads[(bits, value, seen)] ^ (1 << bits.index(k))) == value
        if changed:
            flipped[m] = {**fired, **changed}
    return fired, flipped


def dependency(
    events: Any, num_qubits: int, num_clbits: int, fired: dict, other: dict, stop: int
) -> np.ndarray:
    """Per bit, how much its observable right after event ``stop`` differs between the
    branch ``fired`` says runs and the branch ``other`` says: ``(1 - overlap)/2`` of the
    two signed mean-field observables (0: the same, 1/2: orthogonal, 1: opposite)."""
    a = _signed_observables(events, num_qubits, num_clbits, fired, stop)
    b = _signed_observables(events, num_qubits, num_clbits, other, stop)
    overlap = np.ones(num_clbits)
    for x, y in zip(a, b, strict=True):
        norm = np.linalg.norm(x, axis=0) * np.linalg.norm(y, axis=0)
        overlap *= np.where(norm > 1e-12, (x * y).sum(axis=0) / np.maximum(norm, 1e-12), 1.0)
    return np.clip((1.0 - overlap) / 2, 0.0, 1.0)


def _signed_observables(
    events: Any, num_qubits: int, num_clbits: int, fired: dict, stop: int
) -> list[np.ndarray]:
    """Each bit's observable right after event ``stop``, carried back from the end as a
    product of one-qubit operators (per qubit a (4, num_clbits) array of signed Pauli
    coefficients; a two-qubit gate's result cut back to its nearest product)."""

    ident = np.zeros((4, num_clbits))
    ident[0] = 1.0
    coef = [ident.copy() for _ in range(num_qubits)]
    defined = np.zeros(num_clbits, dtype=bool)
    for index in range(len(events) - 1, stop, -1):
        op = events[index].op
        if op is None or op.name == "barrier" or fired.get(index) is False:
            continue
        qs = op.qubits
        if op.name == "measure":
            coef[qs[0]][1:3] = 0.0
            if not defined[op.clbits[0]]:
                defined[op.clbits[0]] = True
                coef[qs[0]][:, op.clbits[0]] = (0.0, 0.0, 0.0, 1.0)
        elif op.name == "reset":
            coef[qs[0]] = ident * (coef[qs[0]][0] + coef[qs[0]][3])
        elif len(qs) == 1:
            coef[qs[0]] = transfer(op.name, op.params) @ coef[qs[0]]
        else:
            joint = np.einsum("ic,jc->cij", coef[qs[0]], coef[qs[1]]).reshape(num_clbits, 16)
            after = (joint @ transfer(op.name, op.params).T).reshape(num_clbits, 4, 4)
            u, s, vt = np.linalg.svd(after)
            coef[qs[0]] = (u[:, :, 0] * s[:, :1]).T
            coef[qs[1]] = vt[:, 0, :].T
    return coef
