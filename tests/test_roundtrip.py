"""IR → OpenQASM → IR is lossless (FR-003): a hypothesis property test over generated circuits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qorch.errors import CircuitError
from qorch.gates import GATES
from qorch.ingest.load import load_circuit
from qorch.ir import Circuit, Condition, Operation, Register
from qorch.qasm_emit import gate_definition, number, to_qasm2, to_qasm3

NAMES = ["q", "c", "a", "b", "anc", "data", "m0", "syn", "input", "box", "h", "rz", "U"]
ANGLES = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def circuits(draw, qasm2_only: bool = False) -> Circuit:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=2, max_size=5, unique=True))
    nq = draw(st.integers(1, min(3, len(names) - 1)))
    qregs = [Register(n, draw(st.integers(1, 4))) for n in names[:nq]]
    cregs = [Register(n, draw(st.integers(1, 3))) for n in names[nq:]]
    num_qubits = sum(r.size for r in qregs)
    num_clbits = sum(r.size for r in cregs)
    gates = [g for g in GATES.values() if g.num_qubits <= num_qubits]
    ops = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["gate", "gate", "gate", "measure", "reset", "barrier"]))
        if kind == "gate":
            g = draw(st.sampled_from(gates))
            qubits = draw(st.permutations(range(num_qubits)))[: g.num_qubits]
            op = Operation(
                g.name,
                qubits,
                (),
                draw(st.lists(ANGLES, min_size=g.num_params, max_size=g.num_params)),
            )
        elif kind == "measure" and num_clbits:
            op = Operation(
                "measure",
                [draw(st.integers(0, num_qubits - 1))],
                [draw(st.integers(0, num_clbits - 1))],
            )
        elif kind == "reset":
            op = Operation("reset", [draw(st.integers(0, num_qubits - 1))])
        else:
            op = Operation(
                "barrier", sorted(draw(st.sets(st.integers(0, num_qubits - 1), min_size=1)))
            )
        if cregs and op.name != "barrier" and draw(st.booleans()):
            reg = draw(st.sampled_from(cregs))
            offset = sum(r.size for r in cregs[: cregs.index(reg)])
            if draw(st.booleans()) or (qasm2_only and reg.size > 1):
                bits = list(range(offset, offset + reg.size))
                cond = Condition(bits, draw(st.integers(0, 2**reg.size - 1)), reg.name)
            else:
                bit = offset + draw(st.integers(0, reg.size - 1))
                if qasm2_only:  # a one-bit register is the only one-bit condition QASM 2 has
                    cond = Condition([bit], draw(st.integers(0, 1)), reg.name)
                else:
                    cond = Condition([bit], draw(st.integers(0, 1)))
            op = Operation(op.name, op.qubits, op.clbits, op.params, cond)
        ops.append(op)
    circuit = Circuit(qregs, cregs, ops)
    circuit.validate()
    return circuit


def assert_same(back: Circuit, circuit: Circuit) -> None:
    """Equal circuits, except that a register whose name clashes is written ``r_<name>``."""
    ours, theirs = circuit.qregs + circuit.cregs, back.qregs + back.cregs
    assert [r.size for r in theirs] == [r.size for r in ours]
    renamed = {t.name: o.name for o, t in zip(ours, theirs, strict=True)}
    for o, t in renamed.items():
        assert o == t or o.startswith("r_" + t)

    def original(op: Operation) -> Operation:
        cond = op.condition
        if cond is None or cond.register is None:
            return op
        return Operation(
            op.name,
            op.qubits,
            op.clbits,
            op.params,
            Condition(cond.clbits, cond.value, renamed[cond.register]),
        )

    assert tuple(original(op) for op in back.operations) == circuit.operations


@settings(max_examples=150, deadline=None)
@given(circuits())
def test_qasm3_round_trip_is_lossless(plugins, circuit):
    assert_same(load_circuit(to_qasm3(circuit), plugins=plugins), circuit)


@settings(max_examples=100, deadline=None)
@given(circuits(qasm2_only=True))
def test_qasm2_round_trip_is_lossless(plugins, circuit):
    assert_same(load_circuit(to_qasm2(circuit), plugins=plugins), circuit)


def test_plain_register_names_are_kept(plugins):
    c = Circuit([Register("data", 2)], [Register("m0", 1)], [Operation("h", [1])])
    for emit in (to_qasm2, to_qasm3):
        assert load_circuit(emit(c), plugins=plugins) == c


@pytest.mark.parametrize("name", sorted(GATES))
@pytest.mark.parametrize("emit", [to_qasm2, to_qasm3])
def test_every_gate_round_trips(plugins, name, emit):
    info = GATES[name]
    op = Operation(
        name, range(info.num_qubits), (), [0.1 * (i + 1) for i in range(info.num_params)]
    )
    c = Circuit([Register("q", info.num_qubits)], [], [op])
    assert load_circuit(emit(c), plugins=plugins).operations == (op,)


def test_gate_definitions_only_use_native_gates():
    assert gate_definition("rzz", 3).startswith("gate rzz(p0) a0, a1 { cx a0, a1; rz(p0) a1;")
    assert "ecr" not in gate_definition("ecr", 2).split("{", 1)[1]


def test_numbers_are_exact_qasm_literals():
    assert number(1e-05) == "1.0e-05"
    assert float(number(0.1 + 0.2)) == 0.1 + 0.2
    with pytest.raises(CircuitError):
        number(float("nan"))


def test_qasm2_cannot_condition_on_one_bit_of_a_wide_register():
    c = Circuit(
        [Register("q", 1)], [Register("c", 2)], [Operation("x", [0], condition=Condition([1], 1))]
    )
    with pytest.raises(CircuitError) as info:
        to_qasm2(c)
    assert info.value.kind == "unsupported"
    assert "if (c[1] == true)" in to_qasm3(c)


@settings(max_examples=100, deadline=None)
@given(circuits())
def test_qiskit_round_trip_is_lossless(plugins, circuit):
    """IR → QuantumCircuit (what the simulator will run) → IR is the identity."""
    from qorch.qiskit_bridge import to_qiskit

    qc = to_qiskit(circuit)
    assert (qc.num_qubits, qc.num_clbits) == (circuit.num_qubits, circuit.num_clbits)
    assert load_circuit(qc, plugins=plugins) == circuit
