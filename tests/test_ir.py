"""Circuit IR invariants, depth and summary (FR-003)."""

from __future__ import annotations

import pytest

from qorch.ir import Circuit, Condition, Operation, Register, depth, register_offsets, summarize


def bell() -> Circuit:
    return Circuit(
        [Register("q", 2)],
        [Register("c", 2)],
        [
            Operation("h", [0]),
            Operation("cx", [0, 1]),
            Operation("barrier", [0, 1]),
            Operation("measure", [0], [0]),
            Operation("measure", [1], [1]),
        ],
    )


def test_summary_counts_and_depth():
    s = summarize(bell())
    assert (s.num_qubits, s.num_clbits, s.num_ops, s.num_measurements) == (2, 2, 4, 2)
    assert s.ops_by_name == {"cx": 1, "h": 1, "measure": 2}
    assert s.depth == 3
    assert s.registers == [
        {"name": "q", "kind": "quantum", "size": 2},
        {"name": "c", "kind": "classical", "size": 2},
    ]


def test_condition_reads_its_clbits_for_depth():
    c = Circuit(
        [Register("q", 2)],
        [Register("c", 1)],
        [
            Operation("measure", [0], [0]),
            Operation("x", [1], condition=Condition([0], 1, "c")),
        ],
    )
    assert depth(c) == 2  # without the condition wire the x would share layer 1


def test_registers_flatten_in_declaration_order():
    c = Circuit([Register("a", 2), Register("b", 3)], [], [])
    assert c.num_qubits == 5
    assert c.register_of_qubit(3) == ("b", 1)
    assert register_offsets(c.qregs) == {"a": 0, "b": 2}
    with pytest.raises(IndexError):
        c.register_of_qubit(5)


def test_operations_are_frozen_and_normalised():
    op = Operation("rz", [1], params=[1])
    assert op.params == (1.0,) and isinstance(op.params[0], float)
    with pytest.raises(AttributeError):
        op.name = "x"  # type: ignore[misc]
    assert hash(bell()) == hash(bell())


@pytest.mark.parametrize(
    ("ops", "fragment"),
    [
        ([Operation("foo", [0])], "unknown operation"),
        ([Operation("cx", [0])], "takes 2 qubits"),
        ([Operation("rz", [0])], "takes 1 qubits and 1 params"),
        ([Operation("h", [5])], "bad qubit"),
        ([Operation("cx", [1, 1])], "bad qubit"),
        ([Operation("measure", [0], [9])], "bad clbit"),
        ([Operation("measure", [0])], "measure takes"),
        ([Operation("x", [0], condition=Condition([0], 2))], "bad condition"),
        ([Operation("x", [0], condition=Condition([], 0))], "bad condition"),
    ],
)
def test_validate_rejects_inconsistent_circuits(ops, fragment):
    with pytest.raises(ValueError, match=fragment):
        Circuit([Register("q", 2)], [Register("c", 1)], ops).validate()


def test_validate_rejects_duplicate_register_names():
    with pytest.raises(ValueError, match="duplicate"):
        Circuit([Register("q", 1)], [Register("q", 1)], []).validate()


def test_valid_circuit_passes():
    bell().validate()
