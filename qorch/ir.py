"""The circuit IR (FR-003): registers, ordered operations, measurements, conditions.

A :class:`Circuit` is what every parser produces and every later stage consumes. It
preserves gate order, the qubit/clbit mapping (registers with names, flattened in
declaration order into global indices) and measurement instructions. Custom gate
definitions are already expanded into gates of :data:`qorch.gates.GATES`.

All types are frozen attrs classes with tuples inside, so circuits are hashable,
comparable and safe to share between tasks.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable

import attrs

from qorch.converters import converter
from qorch.gates import DIRECTIVES, GATES


def _tuple_of_ints(value: Iterable[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in value)


def _tuple_of_floats(value: Iterable[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in value)


@attrs.frozen
class Register:
    """A named register of ``size`` qubits or clbits."""

    name: str
    size: int


@attrs.frozen
class Condition:
    """A classical condition: run the operation only if ``clbits`` read ``value``.

    ``clbits`` are global clbit indices, least significant first (as qiskit reads a
    register). ``register`` names the register when the condition is on a whole register
    (``if (c == 3)``); it is ``None`` for a single-bit condition (``if (c[1] == 1)``).
    """

    clbits: tuple[int, ...] = attrs.field(converter=_tuple_of_ints)
    value: int
    register: str | None = None


@attrs.frozen
class Operation:
    """One instruction: a gate of :data:`~qorch.gates.GATES`, ``measure``, ``reset`` or ``barrier``.

    ``qubits``/``clbits`` are global indices; ``params`` are the gate's angles in
    radians, already evaluated; ``condition`` is the classical guard, if any.
    """

    name: str
    qubits: tuple[int, ...] = attrs.field(converter=_tuple_of_ints)
    clbits: tuple[int, ...] = attrs.field(default=(), converter=_tuple_of_ints)
    params: tuple[float, ...] = attrs.field(default=(), converter=_tuple_of_floats)
    condition: Condition | None = None

    @property
    def is_gate(self) -> bool:
        """True for unitary gates (not measure, reset or barrier)."""
        return self.name in GATES


def _registers(value: Iterable[Register]) -> tuple[Register, ...]:
    return tuple(value)


def _operations(value: Iterable[Operation]) -> tuple[Operation, ...]:
    return tuple(value)


@attrs.frozen
class Circuit:
    """A quantum circuit in qorch's IR (FR-003).

    ``qregs``/``cregs`` give names and sizes; qubit ``i`` of the second quantum register
    has global index ``qregs[0].size + i``. ``operations`` are in program order.
    """

    qregs: tuple[Register, ...] = attrs.field(converter=_registers)
    cregs: tuple[Register, ...] = attrs.field(converter=_registers)
    operations: tuple[Operation, ...] = attrs.field(converter=_operations)
    name: str = ""

    @property
    def num_qubits(self) -> int:
        """Total number of qubits over all quantum registers."""
        return sum(r.size for r in self.qregs)

    @property
    def num_clbits(self) -> int:
        """Total number of clbits over all classical registers."""
        return sum(r.size for r in self.cregs)

    def digest(self) -> str:
        """sha256 of the circuit's canonical JSON: what a plan records as its circuit."""
        text = json.dumps(converter.unstructure(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def validate(self) -> None:
        """Check internal consistency; raise ``ValueError`` naming the first problem.

        Indices in range, gate names and arities known, conditions within clbits.
        Parsers produce valid circuits; this guards circuits built by hand or by plugins.
        """
        nq, nc = self.num_qubits, self.num_clbits
        names = [r.name for r in (*self.qregs, *self.cregs)]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate register names in {names}")
        for pos, op in enumerate(self.operations):
            where = f"operation {pos} ({op.name})"
            info = GATES.get(op.name)
            if info is None and op.name not in DIRECTIVES:
                raise ValueError(f"{where}: unknown operation")
            if info is not None and (
                len(op.qubits) != info.num_qubits or len(op.params) != info.num_params
            ):
                raise ValueError(
                    f"{where}: takes {info.num_qubits} qubits and {info.num_params} params"
                )
            if op.name == "measure" and (len(op.qubits) != 1 or len(op.clbits) != 1):
                raise ValueError(f"{where}: measure takes one qubit and one clbit")
            if op.name == "reset" and len(op.qubits) != 1:
                raise ValueError(f"{where}: reset takes one qubit")
            if any(not 0 <= q < nq for q in op.qubits) or len(set(op.qubits)) != len(op.qubits):
                raise ValueError(f"{where}: bad qubit indices {op.qubits}")
            if any(not 0 <= c < nc for c in op.clbits):
                raise ValueError(f"{where}: bad clbit indices {op.clbits}")
            cond = op.condition
            if cond is not None and (
                not cond.clbits
                or any(not 0 <= c < nc for c in cond.clbits)
                or not 0 <= cond.value < 2 ** len(cond.clbits)
            ):
                raise ValueError(f"{where}: bad condition {cond}")

    def register_of_qubit(self, index: int) -> tuple[str, int]:
        """``(register name, index within it)`` of global qubit ``index``."""
        return _locate(self.qregs, index)

    def register_of_clbit(self, index: int) -> tuple[str, int]:
        """``(register name, index within it)`` of global clbit ``index``."""
        return _locate(self.cregs, index)


def _locate(registers: tuple[Register, ...], index: int) -> tuple[str, int]:
    offset = 0
    for reg in registers:
        if index < offset + reg.size:
            return reg.name, index - offset
        offset += reg.size
    raise IndexError(index)


def register_offsets(registers: Iterable[Register]) -> dict[str, int]:
    """Global index of bit 0 of each register, by register name."""
    offsets, offset = {}, 0
    for reg in registers:
        offsets[reg.name] = offset
        offset += reg.size
    return offsets


@attrs.frozen
class CircuitSummary:
    """The figures ``qorch parse`` reports for a circuit.

    ``num_ops`` counts operations other than barriers (after custom gates are expanded);
    ``depth`` is the number of layers over qubits and clbits, barriers excluded, a
    condition reading its clbits.
    """

    num_qubits: int
    num_clbits: int
    num_ops: int
    num_measurements: int
    ops_by_name: dict[str, int]
    depth: int
    registers: list[dict[str, object]]


def depth(circuit: Circuit) -> int:
    """Circuit depth over qubit and clbit wires; barriers do not count."""
    nq = circuit.num_qubits
    level = [0] * (nq + circuit.num_clbits)
    best = 0
    for op in circuit.operations:
        if op.name == "barrier":
            continue
        wires = [*op.qubits, *(nq + c for c in op.clbits)]
        if op.condition is not None:
            wires.extend(nq + c for c in op.condition.clbits)
        layer = max((level[w] for w in wires), default=0) + 1
        for w in wires:
            level[w] = layer
        best = max(best, layer)
    return best


def summarize(circuit: Circuit) -> CircuitSummary:
    """The :class:`CircuitSummary` of ``circuit``."""
    counts = Counter(op.name for op in circuit.operations if op.name != "barrier")
    registers: list[dict[str, object]] = [
        {"name": r.name, "kind": "quantum", "size": r.size} for r in circuit.qregs
    ]
    registers += [{"name": r.name, "kind": "classical", "size": r.size} for r in circuit.cregs]
    return CircuitSummary(
        num_qubits=circuit.num_qubits,
        num_clbits=circuit.num_clbits,
        num_ops=sum(counts.values()),
        num_measurements=counts.get("measure", 0),
        ops_by_name=dict(sorted(counts.items())),
        depth=depth(circuit),
        registers=registers,
    )
