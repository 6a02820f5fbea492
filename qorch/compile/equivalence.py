"""Is the noise-free executed circuit the input circuit? (DESIGN §6, FR-004)

A small exact simulator of *one branch* of a circuit with mid-circuit measurements:
a statevector over the circuit's qubits in which each measurement takes an outcome
chosen by a policy (all zeros, all ones, or seeded random choices; an outcome of
probability zero is never taken), the state is projected and renormalised, resets of a
measured qubit set it to ``|0>``, and conditions read the bits measured so far. A
correct protocol (:mod:`qorch.compile.executed`) leaves the data in the same state
whatever its measurements read, so comparing branches with the input is exact:

* every measurement of the input final (nothing reset or conditioned):
  :func:`state_problems` runs the executed circuit without the input's measurements from
  three seeded random product states and compares the data qubits' state with the
  input's, on the same states (fidelity >= 1 - :data:`TOLERANCE`), under three outcome
  policies — an operator check up to global phase that never builds an operator;
* otherwise :func:`distribution_problems` enumerates the input's measurement branches
  (at most :data:`MAX_BRANCHES`) and compares the exact distribution of the input's
  classical bits.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable

import numpy as np

from qorch.compile.executed import OP, ExecutedCircuit
from qorch.ir import Circuit, Operation
from qorch.qiskit_bridge import standard_gate

TOLERANCE = 1e-9
#: measurement branches of the input enumerated at most (the distribution check)
MAX_BRANCHES = 4096
#: seeded random product inputs of the state check
INPUTS = 3

Policy = Callable[[int], int]  # measurement number -> preferred outcome


@functools.lru_cache(maxsize=4096)
def gate_matrix(name: str, params: tuple[float, ...]) -> np.ndarray:
    """The unitary of gate ``name`` (qiskit's matrix, little-endian), cached."""

    return np.asarray(standard_gate(name, params).to_matrix(), dtype=complex)


class Branch:
    """One branch of a circuit run: a statevector (axis ``n - 1 - q`` is qubit ``q``)
    and the classical bits read so far."""

    def __init__(self, state: np.ndarray, num_clbits: int, policy: Policy) -> None:
        self.n = state.ndim
        self.state = state
        self.bits = [0] * num_clbits
        self.policy = policy
        self.measured = 0

    def axis(self, q: int) -> int:
        return self.n - 1 - q

    def gate(self, name: str, qubits: tuple[int, ...], params: tuple[float, ...]) -> None:
        """Apply gate ``name`` (qiskit's matrix: its first qubit least significant)."""
        k = len(qubits)
        u = gate_matrix(name, params).reshape((2,) * (2 * k))
        axes = [self.axis(q) for q in reversed(qubits)]  # matrix rows: last qubit first
        out = np.tensordot(u, self.state, axes=(list(range(k, 2 * k)), axes))
        self.state = np.moveaxis(out, list(range(k)), axes)

    def probability_one(self, q: int) -> float:
        ones = np.take(self.state, 1, axis=self.axis(q))
        return float(np.vdot(ones, ones).real)

    def project(self, q: int, outcome: int) -> float:
        """Project qubit ``q`` on ``outcome``, renormalise; the probability it had."""
        before = float(np.vdot(self.state, self.state).real)
        index: list[slice | int] = [slice(None)] * self.n
        index[self.axis(q)] = 1 - outcome
        self.state[tuple(index)] = 0.0
        after = float(np.vdot(self.state, self.state).real)
        if after > 0:
            self.state /= np.sqrt(after)
        return after / before if before > 0 else 0.0

    def measure(self, q: int, c: int) -> None:
        """Measure ``q`` into ``c`` by the policy (never an impossible outcome)."""
        p1 = self.probability_one(q)
        outcome = self.policy(self.measured) & 1
        self.measured += 1
        if p1 < TOLERANCE:
            outcome = 0
        elif p1 > 1 - TOLERANCE:
            outcome = 1
        self.project(q, outcome)
        self.bits[c] = outcome

    def reset(self, q: int) -> None:
        """Reset ``q`` (measured by the policy first when it is not definite)."""
        p1 = self.probability_one(q)
        outcome = 1 if p1 > 1 - TOLERANCE else 0 if p1 < TOLERANCE else self.policy(self.measured)
        self.measured += 1
        self.project(q, outcome & 1)
        if outcome & 1:
            self.gate("x", (q,), ())

    def holds(self, op: Operation) -> bool:
        """Whether ``op``'s condition holds on the bits read so far."""
        cond = op.condition
        if cond is None:
            return True
        value = sum(self.bits[c] << i for i, c in enumerate(cond.clbits))
        return value == cond.value

    def run(self, op: Operation) -> None:
        """Apply one operation (barriers do nothing)."""
        if not self.holds(op):
            return
        if op.name == "measure":
            self.measure(op.qubits[0], op.clbits[0])
        elif op.name == "reset":
            self.reset(op.qubits[0])
        elif op.name != "barrier":
            self.gate(op.name, op.qubits, op.params)


def product_state(num_qubits: int, data: list[np.ndarray]) -> np.ndarray:
    """``data[q]`` on qubit ``q`` (``|0>`` beyond), as a tensor with axis n-1-q = qubit q."""
    zero = np.array([1.0, 0.0], dtype=complex)
    vec = np.array([1.0], dtype=complex)
    for q in reversed(range(num_qubits)):
        vec = np.kron(vec, data[q] if q < len(data) else zero)
    return vec.reshape((2,) * num_qubits)


def _random_qubit(rng: random.Random) -> np.ndarray:
    v = np.array([complex(rng.gauss(0, 1), rng.gauss(0, 1)) for _ in range(2)])
    return v / np.linalg.norm(v)


def _policies(seed: int) -> list[tuple[str, Policy]]:
    rng = random.Random(seed)
    table = [rng.randrange(2) for _ in range(4096)]
    return [
        ("every protocol bit 0", lambda _i: 0),
        ("every protocol bit 1", lambda _i: 1),
        ("random protocol bits", lambda i: table[i % len(table)]),
    ]


def state_problems(circuit: Circuit, executed: ExecutedCircuit, seed: int = 0) -> list[str]:
    """The state check of the module docstring (input measurements all final)."""
    rng = random.Random(seed)
    n, total = circuit.num_qubits, executed.circuit.num_qubits
    ops = [
        (op, step)
        for op, step in zip(executed.circuit.operations, executed.steps, strict=True)
        if not (step.role == OP and op.name == "measure")
    ]
    problems: list[str] = []
    for trial in range(INPUTS):
        data = [_random_qubit(rng) for _ in range(n)]
        ideal = Branch(product_state(n, data), circuit.num_clbits, lambda _i: 0)
        for op in circuit.operations:
            if op.name != "measure":
                ideal.run(op)
        for name, policy in _policies(seed + trial):
            branch = Branch(product_state(total, data), executed.circuit.num_clbits, policy)
            for op, _step in ops:
                branch.run(op)
            fidelity = _data_fidelity(branch, executed, ideal.state)
            if fidelity < 1 - TOLERANCE:
                problems.append(
                    f"the noise-free executed circuit differs from the input: data state "
                    f"fidelity {fidelity:.6f} on random input {trial} ({name})"
                )
                return problems
    return problems


def _data_fidelity(branch: Branch, executed: ExecutedCircuit, ideal: np.ndarray) -> float:
    """|<ideal|data>|², the data read at their final qubits, every other qubit in |0>."""
    total = branch.n
    others = [q for q in range(total) if q not in executed.final]
    index: list[int | slice] = [slice(None)] * total
    for q in others:
        index[branch.axis(q)] = 0
    rest = branch.state[tuple(index)]  # remaining axes: data qubits, highest physical first
    kept = sorted(executed.final, reverse=True)
    # reorder to the ideal's layout: axis n-1-k is circuit qubit k
    n = executed.num_data
    perm = [kept.index(executed.final[n - 1 - a]) for a in range(n)]
    data = np.transpose(rest, perm)
    return float(abs(np.vdot(ideal, data)) ** 2)


def distribution(
    circuit: Circuit, clbits: int, policy: Policy, keep: Callable[[int], bool]
) -> dict[int, float] | None:
    """The exact distribution of the first ``clbits`` classical bits, enumerating every
    measurement ``keep(i)`` selects (the others follow ``policy``); ``None`` past
    :data:`MAX_BRANCHES` branches."""
    out: dict[int, float] = {}
    leaves = 0
    start = Branch(product_state(circuit.num_qubits, []), circuit.num_clbits, policy)  # all |0>
    stack: list[tuple[Branch, int, float]] = [(start, 0, 1.0)]
    while stack:
        branch, pos, weight = stack.pop()
        ops = circuit.operations
        while pos < len(ops):
            op = ops[pos]
            if op.name in ("measure", "reset") and keep(pos) and branch.holds(op):
                p1 = branch.probability_one(op.qubits[0])
                for outcome, p in ((1, p1), (0, 1.0 - p1)):
                    if p < TOLERANCE:
                        continue
                    child = Branch(branch.state.copy(), len(branch.bits), policy)
                    child.bits, child.measured = list(branch.bits), branch.measured
                    child.project(op.qubits[0], outcome)
                    if op.name == "measure":
                        child.bits[op.clbits[0]] = outcome
                    elif outcome:
                        child.gate("x", op.qubits, ())
                    stack.append((child, pos + 1, weight * p))
                break
            branch.run(op)
            pos += 1
        else:
            leaves += 1
            if leaves > MAX_BRANCHES:
                return None
            value = sum(b << i for i, b in enumerate(branch.bits[:clbits]))
            out[value] = out.get(value, 0.0) + weight
    return out


def distribution_problems(circuit: Circuit, executed: ExecutedCircuit) -> list[str] | None:
    """The distribution check of the module docstring; ``None`` when too many branches."""
    n = circuit.num_clbits
    want = distribution(circuit, n, lambda _i: 0, lambda _i: True)
    if want is None:
        return None
    steps = executed.steps
    problems: list[str] = []
    for name, policy in _policies(len(executed.circuit.operations)):
        got = distribution(executed.circuit, n, policy, lambda i: steps[i].role == OP)
        if got is None:
            return None
        diff = max(abs(got.get(k, 0.0) - want.get(k, 0.0)) for k in {*got, *want})
        if diff > TOLERANCE:
            problems.append(
                "the noise-free executed circuit gives another output distribution than "
                f"the input (largest difference {diff:.6f}, {name})"
            )
            break
    return problems
