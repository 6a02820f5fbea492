"""Where each error of a run reaches the output (FR-004, FR-013; DESIGN §6).

The fidelity estimator (:mod:`qorch.compile.fidelity`) needs, for every noise channel of
the events the world simulator runs (:mod:`qorch.compile.physics`), what each of its
Paulis does to the measured bits. No noisy simulation: two cheap passes over the events.

* **Backward, the observables.** A measured bit ``c`` reads ``Z`` on its qubit; carried
  back through the gates (the Heisenberg picture, ``O → U† O U``) it becomes a sum of
  Pauli strings. Per bit and per qubit we keep the *weights* of the four letters
  ``I, X, Y, Z`` in it (the squared coefficients, as if the qubits were independent);
  a gate moves them by the square of its Pauli transfer matrix. A Pauli ``P`` then
  flips the sign of the part of ``O_c`` it anticommutes with: its *ratio*
  ``r_c = E[(-1)^{anticommutations}]`` is ``1`` when it cannot reach bit ``c`` (outside
  the light cone, or a ``Z`` before a measurement), ``-1`` when it surely flips it (an
  ``X`` before a measurement, or carried there through Clifford gates), and in between
  when non-Clifford gates spread it (``0``: the bit is randomized). Runs of gates on
  one pair of qubits are composed exactly before their weights are taken, so a
  ``cx; rz; cx`` acts as the ``rzz`` it is. A measurement ends the coherent part (its
  ``X``/``Y`` weight vanishes), a reset forgets everything before it, and a gate under a
  classical condition runs as the branch at hand says (:mod:`qorch.compile.branches`:
  there, a flip of a bit the condition reads reaches the bits whose observables the
  other branch changes); without a branch, it half-runs and its bits reach everything it
  changes.
* **Forward, the state.** A mean-field pass (each qubit's own Bloch vector, the ideal
  state taken as a product) says how much of a Pauli's action leaves the state as it was:
  ``Z`` on a qubit in ``|0>`` or ``X`` on ``|+>`` does nothing. That weight
  ``Π_q <P_q>²`` of the error keeps only its sure flips (a sure flip is a flip whatever
  the state); the rest of the error keeps its ratios.

The result, for all noise events at once, is their Paulis' probabilities and per-bit
ratios (:class:`Reach`): every approximation is in the ratios (independence of qubits
and of bits, no interference between Pauli paths, the mean-field state), and a Clifford
circuit's are exact where the mean-field state is.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import attrs
import numpy as np
from qiskit.quantum_info import PTM, Operator

from qorch.compile.equivalence import gate_matrix

_LETTERS = {"I": 0, "X": 1, "Y": 2, "Z": 3}
#: SIGN[a][b]: +1 if one-qubit Paulis a, b commute, -1 if they anticommute
SIGN = np.array([[1 if a == 0 or b == 0 or a == b else -1 for b in range(4)] for a in range(4)])
_PAIR = list(itertools.product(range(4), repeat=2))  # index 4*l0 + l1: l0 on the pair's first
SIGN2 = np.array([[SIGN[p[0], q[0]] * SIGN[p[1], q[1]] for q in _PAIR] for p in _PAIR])
_UNTOUCHED = 1e-12


#: Paulis per channel at most (a two-qubit channel's non-identity ones); channels are
#: padded to this many with errors of probability 0
KMAX = 15


@attrs.frozen(eq=False)
class Reach:
    """The noise events whose Paulis can change the outcome, ``E`` of them in order:
    ``index`` (E,) their event indices; ``probs`` (E, K) each Pauli's probability (less
    the part that leaves the state unchanged, which comes as a Pauli of its own holding
    only the sure flips; 0 for padding); ``ratios`` (E, K, num_clbits) its expected sign
    on each bit (module docstring); ``bits`` (E, num_clbits) the bits each event
    reaches."""

    index: Any
    probs: Any
    ratios: Any
    bits: Any


@functools.lru_cache(maxsize=16384)
def transfer(name: str, params: tuple[float, ...]) -> np.ndarray:
    """The Heisenberg Pauli transfer matrix of gate ``name``: column ``i`` holds the
    coefficients of ``U† P_i U`` (index ``4*l0 + l1`` for two qubits, ``l0`` on its
    first qubit) — qiskit's PTM, transposed, in that index order. Real; orthogonal."""

    heisenberg = PTM(Operator(gate_matrix(name, params))).data.real.T
    if heisenberg.shape[0] == 16:  # qiskit indexes 4*l1 + l0
        return heisenberg.reshape(4, 4, 4, 4).transpose(1, 0, 3, 2).reshape(16, 16)
    return heisenberg


@functools.lru_cache(maxsize=16384)
def _squared(name: str, params: tuple[float, ...]) -> np.ndarray:
    """How gate ``name`` moves letter weights: its transfer matrix squared, entrywise."""
    return transfer(name, params) ** 2


@functools.lru_cache(maxsize=16384)
def _on_pair(name: str, params: tuple[float, ...], where: int) -> np.ndarray:
    """``transfer`` as a 16x16 on a pair: ``where`` 0/1 = a one-qubit gate on its first or
    second qubit, 2 = a two-qubit gate in the pair's order, 3 = reversed."""
    t = transfer(name, params)
    if where == 0:
        return np.kron(t, np.eye(4))
    if where == 1:
        return np.kron(np.eye(4), t)
    if where == 2:
        return t
    return t.reshape(4, 4, 4, 4).transpose(1, 0, 3, 2).reshape(16, 16)


@attrs.frozen(eq=False)
class _Errors:
    """A Pauli channel's errors (its labels but the identity), padded to :data:`KMAX`:
    probabilities (K,); per qubit position (two; a one-qubit channel's second is the
    identity) the letters' commutation signs (2, K, 4) and one-hot rows (2, K, 4); on a
    pair, the signs (K, 16) with the channel's qubits in the pair's order or reversed."""

    probs: np.ndarray
    signs: np.ndarray
    onehot: np.ndarray
    on_pair: tuple[np.ndarray, np.ndarray]


@functools.lru_cache(maxsize=4096)
def _errors(items: tuple[tuple[str, float], ...]) -> _Errors:
    kept = [(label, p) for label, p in items if label.strip("I") and p > 0]
    letters = np.zeros((KMAX, 2), dtype=np.int64)
    probs = np.zeros(KMAX)
    for k, (label, p) in enumerate(kept):
        letters[k, : len(label)] = [_LETTERS[ch] for ch in label]
        probs[k] = p
    a, b = letters[:, 0], letters[:, 1]  # b: 0 (identity) for a one-qubit channel
    return _Errors(
        probs,
        np.stack([SIGN[a], SIGN[b]]).astype(float),
        np.stack([np.eye(4)[a], np.eye(4)[b]]),
        (SIGN2[a * 4 + b].astype(float), SIGN2[b * 4 + a].astype(float)),
    )


def mean_field(
    events: Any, num_qubits: int, fired: dict[int, bool] | None = None
) -> dict[int, np.ndarray]:
    """Per noise event (by index): the ideal state's Bloch vectors ``(1, x, y, z)`` of its
    qubits, each qubit on its own (a product state carried gate by gate); a conditioned
    operation as ``fired`` says it runs on the branch at hand, else half."""
    bloch = [np.array([1.0, 0.0, 0.0, 1.0]) for _ in range(num_qubits)]
    out: dict[int, np.ndarray] = {}
    for index, event in enumerate(events):
        if event.channel is not None:
            out[index] = np.array([bloch[q] for q in event.qubits])
            continue
        op = event.op
        qs = op.qubits
        runs = None if op.condition is None or fired is None else fired.get(index)
        if op.name == "barrier" or runs is False:
            continue
        if op.name in ("measure", "reset"):
            new = [np.array([1.0, 0.0, 0.0, bloch[qs[0]][3] if op.name == "measure" else 1.0])]
        elif len(qs) == 1:
            new = [transfer(op.name, op.params).T @ bloch[qs[0]]]
        else:
            joint = np.outer(bloch[qs[0]], bloch[qs[1]]).reshape(16)
            after = (transfer(op.name, op.params).T @ joint).reshape(4, 4)
            new = [after[:, 0], after[0, :]]
        for q, vector in zip(qs, new, strict=True):
            bloch[q] = vector if op.condition is None or runs else (vector + bloch[q]) / 2
    return out


def error_reach(
    events: Any,
    num_qubits: int,
    num_clbits: int,
    fired: dict[int, bool] | None = None,
    switches: dict[int, np.ndarray] | None = None,
) -> Reach | None:
    """The noise events' :class:`Reach` (module docstring). ``fired`` (event index ->
    runs) resolves the conditioned operations of one branch of the ideal run,
    ``switches`` (measurement event index -> per bit, how much its observable depends on
    the bit measured there: :func:`qorch.compile.branches.dependency`) what a flip of a
    bit a condition reads does. ``None`` for what the passes do not model (a gate on
    three or more qubits, a conditional measurement)."""
    if any(
        e.op is not None
        and (len(e.op.qubits) > 2 or (e.op.name == "measure" and e.op.condition is not None))
        for e in events
    ):
        return None
    state = mean_field(events, num_qubits, fired)
    back = _Observables(num_qubits, num_clbits)
    fired = fired or {}
    found: list[tuple[int, _Errors, Any]] = []  # event, errors, what its ratios need
    memo: dict[int, _Errors] = {}
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.channel is None:
            if switches and index in switches:
                back.depend((event.op.clbits[0],), switches[index])
            back.operation(event.op, fired.get(index))
            continue
        errors = memo.get(id(event.channel))  # the events hold their channels meanwhile
        if errors is None:
            errors = memo[id(event.channel)] = _errors(tuple(event.channel.twirl().probs.items()))
        found.append((index, errors, back.observed(event.qubits, errors)))
    found.reverse()
    return _batch(found, state, back)


def _batch(found: list[tuple[int, _Errors, Any]], state: dict, back: Any) -> Reach:
    """The ratios of every recorded event at once (``found``: from :func:`error_reach`)."""
    n, count = back.n, len(found)
    if not count:
        empty = np.zeros((0, 2 * KMAX))
        return Reach(
            np.zeros(0, dtype=np.int64), empty, np.ones((0, 2 * KMAX, n)), empty[:, :n] > 0
        )
    ratios = np.ones((count, KMAX, n))
    on_pair = [i for i, (_, _, seen) in enumerate(found) if len(seen) == 3]
    if on_pair:
        rows = np.stack([found[i][2][0] for i in on_pair])
        composed = np.stack([found[i][2][1] for i in on_pair]) ** 2
        joint = np.stack([found[i][2][2] for i in on_pair])
        ratios[on_pair] = rows @ (composed @ joint)
    alone = [i for i, (_, _, seen) in enumerate(found) if len(seen) == 2]
    if alone:
        signs = np.stack([found[i][1].signs for i in alone])
        first = np.stack([found[i][2][0] for i in alone])
        second = np.stack([found[i][2][1] for i in alone])
        ratios[alone] = (signs[:, 0] @ first) * (signs[:, 1] @ second)
    bloch = np.stack([_two(state[index]) for index, _, _ in found]).reshape(count, 2, 4, 1)
    onehot = np.stack([errors.onehot for _, errors, _ in found])
    unchanged = np.prod((onehot @ bloch)[..., 0] ** 2, axis=1)
    probs = np.stack([errors.probs for _, errors, _ in found])
    sure = np.where(np.abs(ratios) > 1.0 - _UNTOUCHED, ratios, 1.0)
    probs = np.concatenate([probs * (1.0 - unchanged), probs * unchanged], axis=1)
    ratios = np.concatenate([ratios, sure], axis=1)
    moved = (np.abs(1.0 - ratios) > _UNTOUCHED) & (probs > 0)[:, :, None]
    probs = np.where(moved.any(axis=2), probs, 0.0)
    bits = np.any(moved, axis=1)  # (the method is typed as maybe returning a scalar)
    keep = bits.any(axis=1)
    index = np.array([index for index, _, _ in found], dtype=np.int64)
    return Reach(index[keep], probs[keep], ratios[keep], bits[keep])


def _two(bloch: np.ndarray) -> np.ndarray:
    """A channel's qubits' Bloch vectors as two rows (a second, identity one if needed)."""
    return bloch if len(bloch) == 2 else np.array([bloch[0], (1.0, 0.0, 0.0, 0.0)])


class _Observables:
    """The backward pass: per qubit a (4, num_clbits) array of letter weights of each
    bit's observable, and the run of gates on one pair being composed (``block``)."""

    def __init__(self, num_qubits: int, num_clbits: int) -> None:
        self.n = num_clbits
        self.weights = [self._identity() for _ in range(num_qubits)]
        self.defined = np.zeros(num_clbits, dtype=bool)
        self.pending: dict[int, np.ndarray] = {}  # clbit -> how much each bit depends on it
        self.pair: tuple[int, int] | None = None
        self.composed = np.eye(16)  # transfer from the block's end to now
        self.joint = np.zeros((16, num_clbits))  # the pair's letter weights at the block's end

    def _identity(self) -> np.ndarray:
        w = np.zeros((4, self.n))
        w[0] = 1.0
        return w

    def _pair_now(self) -> np.ndarray:
        return (self.composed**2) @ self.joint

    def flush(self) -> None:
        """End the block: its pair's weights as they are now, one qubit at a time."""
        if self.pair is None:
            return
        now = self._pair_now().reshape(4, 4, self.n)
        a, b = self.pair
        self.weights[a], self.weights[b] = now.sum(axis=1), now.sum(axis=0)
        self.pair = None

    def operation(self, op: Any, fired: bool | None = None) -> None:
        """Carry the observables back through ``op`` (the event before, in time);
        ``fired`` says whether a conditioned ``op`` runs on the branch at hand (``None``:
        not known)."""
        if op.name == "barrier":
            return
        qubits = op.qubits
        if (
            self.pair is not None
            and (op.condition is not None or op.name in ("measure", "reset"))
            and any(q in self.pair for q in qubits)
        ):
            self.flush()
        if op.name == "measure":
            self.measure(qubits[0], op.clbits[0])
        elif op.name == "reset":
            before = self.weights[qubits[0]]
            new = self._identity()
            if op.condition is not None and fired is None:
                new = (new + before) / 2
                self.depend(op.condition.clbits, 1.0 - before[0])
            elif op.condition is not None and not fired:
                new = before
            self.weights[qubits[0]] = new
        elif op.condition is not None:
            self.conditioned(op, fired)
        else:
            self.gate(op.name, qubits, op.params)

    def gate(self, name: str, qubits: tuple[int, ...], params: tuple[float, ...]) -> None:
        """An unconditioned gate: composed into the pair's block, or applied."""
        if self.pair is not None and all(q in self.pair for q in qubits):
            where = (
                self.pair.index(qubits[0])
                if len(qubits) == 1
                else 2
                if tuple(qubits) == self.pair
                else 3
            )
            self.composed = _on_pair(name, params, where) @ self.composed
            return
        if len(qubits) == 1:
            q = qubits[0]
            self.weights[q] = _squared(name, params) @ self.weights[q]
            return
        self.flush()
        a, b = qubits
        self.pair = (a, b)
        self.joint = (self.weights[a][:, None, :] * self.weights[b][None, :, :]).reshape(16, self.n)
        self.composed = transfer(name, params)

    def conditioned(self, op: Any, fired: bool | None) -> None:
        """A gate that runs on some branches: as it runs on this one (``fired``), or else
        the mean of both, and the bits it reads reach the observables it changes, as much
        as it changes them."""
        qubits, t = op.qubits, transfer(op.name, op.params)
        if len(qubits) == 1:
            before = self.weights[qubits[0]]
        else:
            a, b = qubits
            before = (self.weights[a][:, None, :] * self.weights[b][None, :, :]).reshape(16, self.n)
        overlap = np.diag(t) @ before
        if fired is not False:
            after = (t**2) @ before
            after = after if fired else (before + after) / 2
            if len(qubits) == 1:
                self.weights[qubits[0]] = after
            else:
                after = after.reshape(4, 4, self.n)
                self.weights[a], self.weights[b] = after.sum(axis=1), after.sum(axis=0)
        if fired is None:  # else the branch's own switches say (:mod:`.branches`)
            self.depend(op.condition.clbits, (1.0 - overlap) / 2)

    def depend(self, clbits: tuple[int, ...], strength: np.ndarray) -> None:
        """Each bit depends on the value ``clbits`` read (at their last measurement before
        here) by ``strength`` (per bit, 0 to 1)."""
        for c in clbits:
            self.pending[c] = np.maximum(self.pending.get(c, 0.0), strength)

    def measure(self, q: int, c: int) -> None:
        """``X``/``Y`` weight on ``q`` vanishes; bit ``c`` reads ``Z`` here (if this is the
        measurement it keeps); bits depending on ``c``'s value get ``Z`` weight on ``q``."""
        w = self.weights[q]
        kept = w[0] + w[3]
        safe = np.where(kept > 1e-15, kept, 1.0)
        w = np.array([np.where(kept > 1e-15, w[0] / safe, 1.0), 0 * kept, 0 * kept, w[3] / safe])
        if not self.defined[c]:
            self.defined[c] = True
            w[:, c] = (0.0, 0.0, 0.0, 1.0)
        depend = self.pending.pop(c, None)
        if depend is not None:
            w[3] += depend * w[0]
            w[0] *= 1.0 - depend
        self.weights[q] = w

    def observed(self, qubits: tuple[int, ...], errors: _Errors) -> tuple[np.ndarray, ...]:
        """What the ratios of a channel on ``qubits`` need, as they are now: on the block's
        pair, its sign rows, the block's transfer and its joint weights; else the weights
        of its (one or two; the second an identity) qubits."""
        pair = self.pair
        if pair is not None and any(q in pair for q in qubits):
            if all(q in pair for q in qubits):
                rows = errors.on_pair[0 if qubits[0] == pair[0] else 1]
                return rows, self.composed, self.joint
            self.flush()
        second = self.weights[qubits[1]] if len(qubits) == 2 else self._identity()
        return self.weights[qubits[0]], second
