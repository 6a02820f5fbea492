"""The gate vocabulary of the circuit IR (FR-003).

The IR names gates exactly as qiskit's standard gate library does
(``qiskit.circuit.library.get_standard_gate_name_mapping``), so a plan, a simulator and
a third-party plugin agree on what ``cu1`` or ``rzz`` mean. The table is static so the
kernel can reason about gates without importing qiskit; ``tests/test_gates.py`` checks it
against qiskit's mapping. Gates outside the table (a QASM file's own ``gate`` definitions,
``u0``, ``c4x``, library gates such as ``mcx`` with many controls) are expanded into the
gates they are made of when a circuit is ingested.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class GateInfo:
    """What the IR knows about one gate.

    ``qasm3`` is the name in OpenQASM 3's ``stdgates.inc`` (or the builtin ``U``), or
    ``None`` when an exported program must define the gate itself; ``qasm2`` is the same
    for qiskit's ``qelib1.inc``.
    """

    name: str
    num_qubits: int
    num_params: int
    qasm3: str | None
    qasm2: str | None


def _table(rows: list[tuple[str, int, int, str | None, str | None]]) -> dict[str, GateInfo]:
    return {r[0]: GateInfo(*r) for r in rows}


#: name -> GateInfo, for every gate the IR can hold.
GATES: dict[str, GateInfo] = _table(
    [
        # name, qubits, params, stdgates.inc name, qelib1.inc name
        ("id", 1, 0, "id", "id"),
        ("x", 1, 0, "x", "x"),
        ("y", 1, 0, "y", "y"),
        ("z", 1, 0, "z", "z"),
        ("h", 1, 0, "h", "h"),
        ("s", 1, 0, "s", "s"),
        ("sdg", 1, 0, "sdg", "sdg"),
        ("t", 1, 0, "t", "t"),
        ("tdg", 1, 0, "tdg", "tdg"),
        ("sx", 1, 0, "sx", "sx"),
        ("sxdg", 1, 0, None, "sxdg"),
        ("rx", 1, 1, "rx", "rx"),
        ("ry", 1, 1, "ry", "ry"),
        ("rz", 1, 1, "rz", "rz"),
        ("p", 1, 1, "p", "p"),
        ("r", 1, 2, None, None),
        ("u", 1, 3, "U", "u"),
        ("u1", 1, 1, "u1", "u1"),
        ("u2", 1, 2, "u2", "u2"),
        ("u3", 1, 3, "u3", "u3"),
        ("cx", 2, 0, "cx", "cx"),
        ("cy", 2, 0, "cy", "cy"),
        ("cz", 2, 0, "cz", "cz"),
        ("ch", 2, 0, "ch", "ch"),
        ("cs", 2, 0, None, None),
        ("csdg", 2, 0, None, None),
        ("csx", 2, 0, None, "csx"),
        ("cp", 2, 1, "cp", "cp"),
        ("crx", 2, 1, "crx", "crx"),
        ("cry", 2, 1, "cry", "cry"),
        ("crz", 2, 1, "crz", "crz"),
        ("cu1", 2, 1, None, "cu1"),
        ("cu3", 2, 3, None, "cu3"),
        ("cu", 2, 4, "cu", "cu"),
        ("swap", 2, 0, "swap", "swap"),
        ("iswap", 2, 0, None, None),
        ("dcx", 2, 0, None, None),
        ("ecr", 2, 0, None, None),
        ("rxx", 2, 1, None, "rxx"),
        ("ryy", 2, 1, None, None),
        ("rzz", 2, 1, None, "rzz"),
        ("rzx", 2, 1, None, None),
        ("xx_minus_yy", 2, 2, None, None),
        ("xx_plus_yy", 2, 2, None, None),
        ("ccx", 3, 0, "ccx", "ccx"),
        ("ccz", 3, 0, None, None),
        ("cswap", 3, 0, "cswap", "cswap"),
        ("rccx", 3, 0, None, "rccx"),
        ("c3x", 4, 0, None, "c3x"),
        ("c3sx", 4, 0, None, "c3sqrtx"),
        ("rcccx", 4, 0, None, "rc3x"),
    ]
)

#: For each gate, per qubit: does it commute with Z on that qubit (act diagonally in the
#: computational basis there)? A qubit shared to another node by cat-entanglement can take
#: part in any gate diagonal on it; a non-diagonal gate ends the share (DESIGN §7).
#: Gates of 3+ qubits are decomposed before distribution; ``tests/test_gates.py`` checks
#: this table against qiskit's matrices.
_DIAGONAL_1Q = {"id", "z", "s", "sdg", "t", "tdg", "rz", "p", "u1"}
_DIAGONAL_2Q = {
    "cx": (True, False),
    "cy": (True, False),
    "cz": (True, True),
    "ch": (True, False),
    "cs": (True, True),
    "csdg": (True, True),
    "csx": (True, False),
    "cp": (True, True),
    "crx": (True, False),
    "cry": (True, False),
    "crz": (True, True),
    "cu1": (True, True),
    "cu3": (True, False),
    "cu": (True, False),
    "rzz": (True, True),
    "rzx": (True, False),
}


def diagonal_on(name: str) -> tuple[bool, ...]:
    """Per qubit of gate ``name`` (1 or 2 qubits): whether it acts diagonally there."""
    info = GATES[name]
    if info.num_qubits == 1:
        return (name in _DIAGONAL_1Q,)
    if info.num_qubits == 2:
        return _DIAGONAL_2Q.get(name, (False, False))
    raise ValueError(f"{name} acts on {info.num_qubits} qubits; decompose it first")


#: Non-gate operations the IR holds besides gates.
DIRECTIVES = ("measure", "reset", "barrier")


def gate_info(name: str) -> GateInfo | None:
    """The :class:`GateInfo` of ``name``, or ``None`` if the IR has no such gate."""
    return GATES.get(name)
