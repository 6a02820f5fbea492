"""IR → OpenQASM 3 and OpenQASM 2 text (FR-003).

The output parses back to the same IR (a property test checks it): angles are written
with ``repr`` so every float survives exactly; gates outside ``stdgates.inc`` /
``qelib1.inc`` are defined at the top of the program from qiskit's definitions, and the
parsers recognise such a definition as the standard gate of that name only if its
unitary is the same. OpenQASM 2 cannot express a condition on one bit of a register
wider than one bit; emitting one is an ``unsupported`` :class:`CircuitError`.
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import Any, SupportsFloat

from qiskit.circuit import Parameter, ParameterExpression

from qorch.errors import CircuitError
from qorch.gates import GATES
from qorch.ir import Circuit, Operation
from qorch.qiskit_bridge import ir_name_of, standard_gate

QASM3_RESERVED = frozenset(
    [
        "OPENQASM",
        "include",
        "defcalgrammar",
        "def",
        "cal",
        "defcal",
        "gate",
        "extern",
        "box",
        "let",
        "break",
        "continue",
        "if",
        "else",
        "end",
        "return",
        "for",
        "while",
        "in",
        "switch",
        "case",
        "default",
        "nop",
        "pragma",
        "input",
        "output",
        "const",
        "readonly",
        "mutable",
        "qreg",
        "qubit",
        "creg",
        "bool",
        "bit",
        "int",
        "uint",
        "float",
        "angle",
        "complex",
        "array",
        "void",
        "duration",
        "stretch",
        "gphase",
        "inv",
        "pow",
        "ctrl",
        "negctrl",
        "durationof",
        "delay",
        "reset",
        "measure",
        "barrier",
        "true",
        "false",
        "im",
        "dt",
        "ns",
        "us",
        "µs",
        "ms",
        "s",
        "sizeof",
        "pi",
        "π",
        "tau",
        "τ",
        "euler",
        "ℇ",
        "U",
        "CX",
    ]
)
QASM2_RESERVED = frozenset(
    [
        "OPENQASM",
        "include",
        "qreg",
        "creg",
        "gate",
        "opaque",
        "barrier",
        "reset",
        "measure",
        "if",
        "pi",
        "U",
        "CX",
        "sin",
        "cos",
        "tan",
        "exp",
        "ln",
        "sqrt",
    ]
)


def number(value: float) -> str:
    """A float as an exact QASM real literal (``1e-05`` becomes ``1.0e-05``)."""
    if not math.isfinite(value):
        raise CircuitError("unsupported", f"angle {value} cannot be written in OpenQASM")
    text = repr(float(value))
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    return text


_IDENTIFIER = re.compile(r"^[a-z][A-Za-z0-9_]*$")


def _names(circuit: Circuit, reserved: frozenset[str]) -> dict[str, str]:
    """Register names as written: a name that clashes with a keyword or a gate in scope,
    or that is not a plain lower-case identifier (which qiskit's readers require), is
    written as ``r_<name>`` (made unique)."""
    taken = {r.name for r in (*circuit.qregs, *circuit.cregs)} | set(reserved)
    out = {}
    for reg in (*circuit.qregs, *circuit.cregs):
        name = reg.name
        if name in reserved or not _IDENTIFIER.match(name):
            name = "r_" + re.sub(r"\W", "_", reg.name)
            while name in taken:
                name += "_"
            taken.add(name)
        out[reg.name] = name
    return out


class _Emitter:
    def __init__(self, circuit: Circuit, version: int) -> None:
        self.c = circuit
        self.v = version
        native = {n for name in GATES if (n := self.native(name)) is not None}
        defined = {op.name for op in circuit.operations if op.name in GATES}
        keywords = QASM3_RESERVED if version == 3 else QASM2_RESERVED
        self.names = _names(circuit, keywords | native | defined)

    def native(self, name: str) -> str | None:
        info = GATES[name]
        return info.qasm3 if self.v == 3 else info.qasm2

    def qubit(self, index: int) -> str:
        reg, i = self.c.register_of_qubit(index)
        return f"{self.names[reg]}[{i}]"

    def clbit(self, index: int) -> str:
        reg, i = self.c.register_of_clbit(index)
        return f"{self.names[reg]}[{i}]"

    def statement(self, op: Operation) -> str:
        qubits = ", ".join(self.qubit(q) for q in op.qubits)
        if op.name == "measure":
            if self.v == 3:
                return f"{self.clbit(op.clbits[0])} = measure {qubits};"
            return f"measure {qubits} -> {self.clbit(op.clbits[0])};"
        if op.name in ("reset", "barrier"):
            return f"{op.name} {qubits};"
        name = self.native(op.name) or op.name
        params = f"({', '.join(number(p) for p in op.params)})" if op.params else ""
        return f"{name}{params} {qubits};"

    def conditioned(self, op: Operation) -> str:
        body = self.statement(op)
        cond = op.condition
        if cond is None:
            return body
        if cond.register is not None:
            target = self.names[cond.register]
        elif self.v == 3:
            bit = self.clbit(cond.clbits[0])
            return f"if ({bit} == {'true' if cond.value else 'false'}) {{ {body} }}"
        else:
            reg, _ = self.c.register_of_clbit(cond.clbits[0])
            if next(r.size for r in self.c.cregs if r.name == reg) != 1:
                raise CircuitError(
                    "unsupported",
                    "OpenQASM 2 cannot condition on one bit of a wider register "
                    f"({self.clbit(cond.clbits[0])}); emit OpenQASM 3 instead",
                )
            target = self.names[reg]
        if self.v == 3:
            return f"if ({target} == {cond.value}) {{ {body} }}"
        return f"if({target}=={cond.value}) {body}"

    def program(self) -> str:
        lines = (
            ["OPENQASM 3.0;", 'include "stdgates.inc";']
            if self.v == 3
            else ["OPENQASM 2.0;", 'include "qelib1.inc";']
        )
        used = sorted({op.name for op in self.c.operations if op.name in GATES})
        for name in used:
            if self.native(name) is None:
                lines.append(gate_definition(name, self.v))
        for reg in self.c.qregs:
            n = self.names[reg.name]
            lines.append(f"qubit[{reg.size}] {n};" if self.v == 3 else f"qreg {n}[{reg.size}];")
        for reg in self.c.cregs:
            n = self.names[reg.name]
            lines.append(f"bit[{reg.size}] {n};" if self.v == 3 else f"creg {n}[{reg.size}];")
        lines.extend(self.conditioned(op) for op in self.c.operations)
        return "\n".join(lines) + "\n"


def to_qasm3(circuit: Circuit) -> str:
    """The circuit as an OpenQASM 3 program."""
    return _Emitter(circuit, 3).program()


def to_qasm2(circuit: Circuit) -> str:
    """The circuit as an OpenQASM 2 program; ``unsupported`` error if it cannot be."""
    return _Emitter(circuit, 2).program()


@cache
def gate_definition(name: str, version: int) -> str:
    """A ``gate`` definition of IR gate ``name`` in the target language's native gates.

    The body is qiskit's definition of the gate, expanded until every gate in it is
    native to the target (``stdgates.inc`` + ``U`` for 3, ``qelib1.inc`` for 2).
    """

    info = GATES[name]
    params = [Parameter(f"p{i}") for i in range(info.num_params)]
    gate = standard_gate(name, params)
    body: list[str] = []

    def expand(op: Any, qubits: list[int]) -> None:
        if op.name == "global_phase":
            return
        ir = ir_name_of(op)
        native = None
        if ir is not None:
            native = GATES[ir].qasm3 if version == 3 else GATES[ir].qasm2
        if native is not None:
            args = ", ".join(_expr(p) for p in op.params)
            targets = ", ".join(f"a{q}" for q in qubits)
            body.append(f"{native}({args}) {targets};" if args else f"{native} {targets};")
            return
        definition = op.definition
        for instr in definition.data:
            expand(instr.operation, [qubits[definition.find_bit(b).index] for b in instr.qubits])

    for instr in gate.definition.data:
        expand(instr.operation, [gate.definition.find_bit(b).index for b in instr.qubits])
    head = f"gate {name}"
    if params:
        head += f"({', '.join(p.name for p in params)})"
    head += " " + ", ".join(f"a{i}" for i in range(info.num_qubits))
    return head + " { " + " ".join(body) + " }"


def _expr(value: SupportsFloat) -> str:
    """A gate-definition parameter (a number or a symbolic expression of p0, p1 ...)."""

    if isinstance(value, ParameterExpression):
        if not value.parameters:
            return number(float(value))
        return str(value).replace("**", "^")
    return number(float(value))


_GATE_DEF = re.compile(r"\bgate\s+([A-Za-z_]\w*)[^{;]*\{[^}]*\}")


def own_definitions(text: str, version: int) -> frozenset[str]:
    """Names of gates that ``text`` defines exactly as :func:`gate_definition` writes them.

    A parser can take such a gate as the standard gate of that name without comparing
    unitaries (which, for huge angles, floating point cannot confirm).
    """
    found = set()
    for m in _GATE_DEF.finditer(text):
        name = m.group(1)
        if name in GATES and " ".join(m.group(0).split()) == gate_definition(name, version):
            found.add(name)
    return frozenset(found)
