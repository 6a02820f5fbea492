"""Between qiskit's ``QuantumCircuit`` and qorch's IR (FR-003).

:func:`from_qiskit` is the one place where qiskit circuits become IR: the QASM parsers
let qiskit build a ``QuantumCircuit`` and hand it here, and the ``qiskit`` parser takes
user objects directly. It expands every gate outside :data:`qorch.gates.GATES` into the
gates it is made of, turns single-operation ``if`` blocks into per-operation conditions,
and rejects what the IR cannot hold (loops, ``else`` branches, unbound parameters,
opaque gates) with a structured error. :func:`to_qiskit` goes back, for simulation and
for checking that nothing was lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from qiskit.circuit import (
    Barrier,
    ClassicalRegister,
    Clbit,
    Gate,
    IfElseOp,
    Instruction,
    Measure,
    QuantumCircuit,
    QuantumRegister,
    Reset,
)
from qiskit.circuit.library import C3XGate, get_standard_gate_name_mapping
from qiskit.quantum_info import Operator

from qorch.config import LimitsSettings
from qorch.errors import CircuitError, SourceLocation
from qorch.gates import GATES
from qorch.ir import Circuit, Condition, Operation, Register

#: Finds where a named construct is in the source text (for error locations).
Locator = Callable[[str], SourceLocation | None]

_SKIPPED = {"global_phase"}  # a global phase changes no outcome; the IR does not keep it
#: control flow the IR cannot hold -> the keyword that introduces it in source text
_CONTROL_FLOW = {
    "while_loop": "while",
    "for_loop": "for",
    "switch_case": "switch",
    "box": "box",
    "break_loop": "break",
    "continue_loop": "continue",
}


@cache
def _class_names() -> dict[type, str]:
    names = {
        gate.base_class: name
        for name, gate in get_standard_gate_name_mapping().items()
        if name in GATES
    }
    names[C3XGate] = "c3x"
    return names


def ir_name_of(op: Instruction) -> str | None:
    """The IR name of a qiskit standard gate object, or ``None`` if it is not one.

    Controlled gates with open controls are not their standard gate.
    """
    name = _class_names().get(getattr(op, "base_class", type(op)))
    if name is None:
        return None
    num_ctrl = getattr(op, "num_ctrl_qubits", 0)
    if num_ctrl and getattr(op, "ctrl_state", 2**num_ctrl - 1) != 2**num_ctrl - 1:
        return None
    return name


@cache
def _gate_classes() -> dict[str, type[Gate]]:
    """qiskit's standard gate classes by name (building the mapping costs ~0.1 ms)."""
    return {name: gate.base_class for name, gate in get_standard_gate_name_mapping().items()}


def standard_gate(name: str, params: Sequence[float] = ()) -> Gate:
    """The qiskit gate object for IR gate ``name`` with ``params``."""
    if name == "c3x":
        return C3XGate()
    return _gate_classes()[name](*params)


class _Converter:
    def __init__(
        self,
        qc: QuantumCircuit,
        limits: LimitsSettings,
        locate: Locator,
        name: str,
        trusted: frozenset[str],
    ) -> None:
        self.qc = qc
        self.name = name
        self.trusted = trusted
        self.limits = limits
        self.locate = locate
        self.ops: list[Operation] = []
        self.qregs, self.qindex = _registers(qc, qc.qubits, qc.qregs, "q")
        self.cregs, self.cindex = _registers(qc, qc.clbits, qc.cregs, "c")
        self.creg_bits = {
            r.name: tuple(self.cindex[b] for b in r)
            for r in qc.cregs
            if r.name in {reg.name for reg in self.cregs}
        }
        self._std_cache: dict[tuple[str, tuple[float, ...]], bool] = {}

    def error(self, kind: str, message: str, name: str) -> CircuitError:
        return CircuitError(kind, message, self.locate(name))

    def run(self) -> Circuit:
        for instr in self.qc.data:
            qubits = tuple(self.qindex[q] for q in instr.qubits)
            clbits = tuple(self.cindex[c] for c in instr.clbits)
            self.add(instr.operation, qubits, clbits, None)
        return Circuit(self.qregs, self.cregs, self.ops, name=self.name)

    def add(
        self,
        op: Instruction,
        qubits: tuple[int, ...],
        clbits: tuple[int, ...],
        condition: Condition | None,
    ) -> None:
        name = op.name
        if name in _SKIPPED:
            return
        if isinstance(op, IfElseOp):
            self.add_if(op, qubits, clbits, condition)
            return
        if name in _CONTROL_FLOW:
            keyword = _CONTROL_FLOW[name]
            raise self.error(
                "unsupported",
                f"'{keyword}' is not supported: qorch runs "
                "straight-line circuits with per-operation conditions",
                keyword,
            )
        if isinstance(op, Measure | Reset | Barrier):
            if name == "barrier" and condition is not None:
                return  # a conditional barrier constrains nothing
            self.append(Operation(name, qubits, clbits if name == "measure" else (), (), condition))
            return
        params = self.params(op)
        ir_name = self.ir_gate_name(op, params)
        if ir_name is not None:
            self.append(Operation(ir_name, qubits, (), params, condition))
            return
        definition = op.definition
        if definition is None:
            raise self.error(
                "unsupported",
                f"operation {name!r} has no definition qorch can expand "
                "(opaque gate or non-unitary instruction)",
                name,
            )
        inner_q = {b: qubits[i] for i, b in enumerate(definition.qubits)}
        inner_c = {b: clbits[i] for i, b in enumerate(definition.clbits)}
        for instr in definition.data:
            self.add(
                instr.operation,
                tuple(inner_q[q] for q in instr.qubits),
                tuple(inner_c[c] for c in instr.clbits),
                condition,
            )

    def append(self, op: Operation) -> None:
        if len(self.ops) >= self.limits.max_operations:
            raise CircuitError(
                "limit",
                f"more than limits.max_operations = {self.limits.max_operations} operations "
                "after custom gates are expanded",
            )
        self.ops.append(op)

    def params(self, op: Instruction) -> tuple[float, ...]:
        values = []
        for p in op.params:
            try:
                values.append(float(p))
            except (TypeError, ValueError):
                raise self.error(
                    "unsupported",
                    f"operation {op.name!r} has a parameter that is not a number: {p}",
                    op.name,
                ) from None
        return tuple(values)

    def ir_gate_name(self, op: Instruction, params: tuple[float, ...]) -> str | None:
        if not isinstance(op, Gate) or op.num_clbits:
            return None
        name = ir_name_of(op)
        if name is not None:
            return name
        if getattr(op, "base_class", type(op)) in _class_names():
            return None  # a standard gate with open controls: expand its definition
        # A gate defined in the source under a standard name (as qorch's own exporter
        # writes them): the standard gate if, and only if, it does the same thing.
        info = GATES.get(op.name)
        if info is None or info.num_qubits != op.num_qubits or info.num_params != len(params):
            return None
        if op.name in self.trusted:
            return op.name
        key = (op.name, params)
        if key not in self._std_cache:
            self._std_cache[key] = _same_unitary(op, standard_gate(op.name, params))
        return op.name if self._std_cache[key] else None

    def add_if(
        self,
        op: IfElseOp,
        qubits: tuple[int, ...],
        clbits: tuple[int, ...],
        outer: Condition | None,
    ) -> None:
        if outer is not None:
            raise self.error("unsupported", "nested conditions are not supported", "if")
        true_body, false_body = op.params[0], op.params[1]
        if false_body is not None and false_body.data:
            raise self.error("unsupported", "'else' branches are not supported", "else")
        target, value = op.condition
        if isinstance(target, Clbit):
            cond_bits: tuple[int, ...] = (self.cindex[target],)
            cond = Condition(cond_bits, int(bool(value)))
        elif isinstance(target, ClassicalRegister):
            cond_bits = tuple(self.cindex[b] for b in target)
            reg = target.name if self.creg_bits.get(target.name) == cond_bits else None
            cond = Condition(cond_bits, int(value), reg)
        else:
            raise self.error(
                "unsupported",
                "only 'bit == value' and 'register == value' conditions are supported",
                "if",
            )
        inner_q = {b: qubits[i] for i, b in enumerate(true_body.qubits)}
        inner_c = {b: clbits[i] for i, b in enumerate(true_body.clbits)}
        body = list(true_body.data)
        for i, instr in enumerate(body):
            written = {inner_c[c] for c in instr.clbits}
            if written & set(cond_bits) and i < len(body) - 1:
                raise self.error(
                    "unsupported",
                    "a conditional block that writes its own condition bits before its "
                    "last statement is not supported",
                    "if",
                )
            self.add(
                instr.operation,
                tuple(inner_q[q] for q in instr.qubits),
                tuple(inner_c[c] for c in instr.clbits),
                cond,
            )


def _same_unitary(a: Instruction, b: Instruction) -> bool:

    try:
        return Operator(a).equiv(Operator(b))
    except Exception:  # e.g. a definition qiskit cannot turn into a matrix
        return False


def _registers(
    qc: QuantumCircuit,
    bits: Sequence[Any],
    regs: Sequence[Any],
    fallback: str,
) -> tuple[tuple[Register, ...], dict[Any, int]]:
    index = {b: i for i, b in enumerate(bits)}
    flat = [b for r in regs for b in r]
    if flat == list(bits):
        return tuple(Register(r.name, r.size) for r in regs), index
    # Loose bits or overlapping registers: one register over all bits, in qiskit's order.
    taken = {r.name for r in qc.qregs} | {r.name for r in qc.cregs}
    name = fallback
    while name in taken:
        name = "_" + name
    return ((Register(name, len(bits)),) if bits else ()), index


def from_qiskit(
    qc: QuantumCircuit,
    limits: LimitsSettings,
    locate: Locator | None = None,
    name: str = "",
    trusted: frozenset[str] = frozenset(),
) -> Circuit:
    """Convert a qiskit circuit to IR, expanding non-IR gates; raise CircuitError if impossible.

    ``locate`` finds a construct in the source text for error positions; ``name`` becomes
    the IR circuit's name; ``trusted`` names custom gates known to be the standard gate of
    that name (qorch's own exported definitions), which skips the unitary comparison.
    """
    if qc.num_qubits > limits.max_qubits:
        raise CircuitError(
            "limit", f"{qc.num_qubits} qubits; limits.max_qubits is {limits.max_qubits}"
        )
    if qc.parameters:
        names = ", ".join(sorted(p.name for p in qc.parameters))
        raise CircuitError(
            "unsupported",
            f"circuit has unbound parameters: {names}",
            (locate or (lambda _n: None))(sorted(p.name for p in qc.parameters)[0]),
        )
    return _Converter(qc, limits, locate or (lambda _n: None), name, trusted).run()


def to_qiskit(circuit: Circuit) -> QuantumCircuit:
    """Build the qiskit circuit the IR describes (registers, order, conditions kept)."""
    qregs = [QuantumRegister(r.size, r.name) for r in circuit.qregs]
    cregs = [ClassicalRegister(r.size, r.name) for r in circuit.cregs]
    qc = QuantumCircuit(*qregs, *cregs, name=circuit.name or None)
    creg_by_name = {r.name: r for r in cregs}
    for op in circuit.operations:
        qubits = [qc.qubits[q] for q in op.qubits]
        clbits = [qc.clbits[c] for c in op.clbits]
        inst: Instruction
        if op.name == "measure":
            inst = Measure()
        elif op.name == "reset":
            inst = Reset()
        elif op.name == "barrier":
            inst = Barrier(len(qubits))
        else:
            inst = standard_gate(op.name, op.params)
        if op.condition is None:
            qc.append(inst, qubits, clbits)
            continue
        cond = op.condition
        if cond.register is not None:
            target: Any = (creg_by_name[cond.register], cond.value)
        elif len(cond.clbits) == 1:
            target = (qc.clbits[cond.clbits[0]], bool(cond.value))
        else:
            raise ValueError("multi-bit condition without a register")
        with qc.if_test(target):
            qc.append(inst, qubits, clbits)
    return qc
