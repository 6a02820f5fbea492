"""Make a circuit distributable (DESIGN §7).

Distribution shares a qubit with another node by cat-entanglement; a shared qubit can
take part only in gates that act diagonally on it. So before placement every gate must
act on at most two qubits, and every two-qubit gate must be diagonal on at least one of
them. Gates that are not are decomposed — ``swap`` into three ``cx``, ``rxx``/``ryy``
into an ``rzz`` between basis changes (one share instead of two), the rest through
qiskit's definitions — and barriers, which constrain nothing here, are dropped.
Conditions carry over to every gate a conditioned gate becomes.
"""

from __future__ import annotations

import math
from functools import lru_cache

import attrs

from qorch.gates import GATES, diagonal_on
from qorch.ir import Circuit, Operation
from qorch.qiskit_bridge import ir_name_of, standard_gate

#: (gate, local qubits, params as a function of the gate's params)
Template = tuple[tuple[str, tuple[int, ...], tuple[float, ...]], ...]

HALF_PI = math.pi / 2


def _hand_template(name: str, p: tuple[float, ...]) -> Template | None:
    """Exact decompositions chosen for distribution (checked against qiskit in tests)."""
    if name == "swap":
        return (("cx", (0, 1), ()), ("cx", (1, 0), ()), ("cx", (0, 1), ()))
    if name == "dcx":
        return (("cx", (0, 1), ()), ("cx", (1, 0), ()))
    if name == "rxx":
        return (
            ("h", (0,), ()),
            ("h", (1,), ()),
            ("rzz", (0, 1), (p[0],)),
            ("h", (0,), ()),
            ("h", (1,), ()),
        )
    if name == "ryy":
        return (
            ("rx", (0,), (HALF_PI,)),
            ("rx", (1,), (HALF_PI,)),
            ("rzz", (0, 1), (p[0],)),
            ("rx", (0,), (-HALF_PI,)),
            ("rx", (1,), (-HALF_PI,)),
        )
    return None


@lru_cache(maxsize=4096)
def expansion(name: str, params: tuple[float, ...]) -> Template:
    """``name(params)`` as distributable IR gates on local qubit indices."""
    hand = _hand_template(name, params)
    if hand is not None:
        return hand

    definition = standard_gate(name, params).definition
    out: list[tuple[str, tuple[int, ...], tuple[float, ...]]] = []
    for instr in definition.data:
        op = instr.operation
        if op.name == "global_phase":
            continue
        qubits = tuple(definition.find_bit(q).index for q in instr.qubits)
        sub = ir_name_of(op)
        if sub is None:
            raise ValueError(f"definition of {name} uses {op.name}, which the IR lacks")
        sub_params = tuple(float(x) for x in op.params)
        if _distributable(sub):
            out.append((sub, qubits, sub_params))
        else:
            out.extend(
                (n, tuple(qubits[i] for i in qs), ps) for n, qs, ps in expansion(sub, sub_params)
            )
    return tuple(out)


def _distributable(name: str) -> bool:
    info = GATES[name]
    return info.num_qubits == 1 or (info.num_qubits == 2 and any(diagonal_on(name)))


@attrs.frozen
class Prepared:
    """The circuit as the compiler distributes it.

    ``ops`` are measurements, resets and gates of one or two qubits, each two-qubit gate
    diagonal on at least one qubit; ``origin[i]`` is the index in the source circuit of the
    operation ``ops[i]`` came from.
    """

    circuit: Circuit
    ops: tuple[Operation, ...]
    origin: tuple[int, ...]

    @property
    def num_qubits(self) -> int:
        """Qubits of the source circuit."""
        return self.circuit.num_qubits


def prepare(circuit: Circuit) -> Prepared:
    """Decompose what distribution cannot carry; drop barriers."""
    ops: list[Operation] = []
    origin: list[int] = []
    for index, op in enumerate(circuit.operations):
        if op.name == "barrier":
            continue
        if op.name in GATES and not _distributable(op.name):
            for name, local, params in expansion(op.name, op.params):
                ops.append(
                    Operation(name, tuple(op.qubits[i] for i in local), (), params, op.condition)
                )
                origin.append(index)
            continue
        ops.append(op)
        origin.append(index)
    return Prepared(circuit, tuple(ops), tuple(origin))
