"""Ingestion (FR-003, FR-014): every bad input is one structured error; good input is kept."""

from __future__ import annotations

import math

import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter
from qiskit.circuit.library import CXGate

from qorch.config import LimitsSettings
from qorch.errors import CircuitError
from qorch.ingest.load import load_circuit, load_circuit_as
from qorch.ir import Condition, Operation

Q2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
Q3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'


def reject(plugins, text, **kw) -> CircuitError:
    with pytest.raises(CircuitError) as info:
        load_circuit(text, plugins=plugins, **kw)
    return info.value


# -- the errors the issue lists, each with kind, line, column and the source line ---------

CASES = [
    # (name, source, kind, line, column, message fragment)
    ("empty", "", "syntax", 1, 1, "empty input"),
    ("blank", "  \n\n", "syntax", 1, 1, "empty input"),
    ("no header", "h q[0];\n", "syntax", 1, 1, "missing version header"),
    ("unknown version", "// hi\nOPENQASM 4.0;\nqubit q;", "unsupported", 2, 1, "version 4.0"),
    (
        "q2 undeclared",
        Q2 + "qreg q[2];\nmeasure q[0] -> c[0];\n",
        "semantic",
        4,
        17,
        "'c' is not defined",
    ),
    ("q2 out of range", Q2 + "qreg q[2];\ncx q[0],q[5];\n", "semantic", 4, 11, "out-of-range"),
    ("q2 arity", Q2 + "qreg q[2];\ncx q[0];\n", "semantic", 4, 1, "takes 2 quantum"),
    ("q2 duplicate", Q2 + "qreg q[2];\nqreg q[3];\n", "semantic", 4, 6, "already defined"),
    ("q2 syntax", Q2 + "qreg q[2]\nh q[0];\n", "syntax", 4, 1, "needed ';'"),
    # qiskit quotes these two with ' (issue 18): the position was lost with the quotes
    ("q2 bad expression", Q2 + "qreg q[2];\nrz(1+) q[0];\n", "syntax", 4, 6, "missing operand"),
    (
        "q2 measure sizes",
        Q2 + "qreg q[2];\ncreg c[3];\nmeasure q -> c;\n",
        "semantic",
        5,
        1,
        "cannot resolve broadcast in measurement",
    ),
    (
        "q3 undeclared",
        Q3 + "qubit[2] q;\nbit[2] c;\nc[0] = measure r[0];\n",
        "semantic",
        5,
        16,
        "Undefined symbol 'r'",
    ),
    (
        "q3 out of range",
        Q3 + "qubit[2] q;\ncx q[0], q[5];\n",
        "semantic",
        4,
        12,
        "index 5 is out of range for register 'q' of size 2",
    ),
    ("q3 arity", Q3 + "qubit[2] q;\ncx q[0];\n", "semantic", 4, 1, "'cx' takes 2 qubit"),
    ("q3 params", Q3 + "qubit[2] q;\nrz q[0];\n", "semantic", 4, 1, "'rz' takes 1 parameters"),
    (
        "q3 duplicate",
        Q3 + "qubit[2] q;\nqubit[3] q;\n",
        "semantic",
        4,
        10,
        "'q' is already defined (line 3)",
    ),
    ("q3 syntax", Q3 + "qubit[2] q\nh q[0];\n", "syntax", 4, 1, "missing ';'"),
    ("q3 undefined gate", Q3 + "qubit q;\nfoo q;\n", "semantic", 4, 1, "'foo' is not defined"),
    (
        "q3 else",
        Q3 + "qubit[1] q;\nbit[1] c;\nc[0] = measure q[0];\n"
        "if (c == 1) { x q[0]; } else { z q[0]; }\n",
        "unsupported",
        6,
        25,
        "'else'",
    ),
    (
        "q3 while",
        Q3 + "qubit[1] q;\nbit[1] c;\nwhile (c[0]) { x q[0]; }\n",
        "unsupported",
        5,
        1,
        "'while' is not supported",
    ),
]


@pytest.mark.parametrize(
    ("name", "source", "kind", "line", "column", "fragment"), CASES, ids=[c[0] for c in CASES]
)
def test_rejections_are_structured(plugins, name, source, kind, line, column, fragment):
    err = reject(plugins, source)
    d = err.to_dict()
    assert d["kind"] == kind
    assert fragment in d["message"]
    assert (d["line"], d["column"]) == (line, column)
    assert d["source_line"] == source.splitlines()[line - 1] if source.strip() else True


def test_non_utf8_bytes_are_an_encoding_error_at_the_byte(plugins):
    err = reject(plugins, b"OPENQASM 2.0;\nqreg q[1];\nh \xff[0];\n")
    assert err.kind == "encoding"
    assert (err.line, err.column) == (3, 3)
    assert "0xff" in err.message


def test_byte_order_mark_is_accepted(plugins):
    c = load_circuit(("\ufeff" + Q3 + "qubit[1] q;\nh q[0];\n").encode(), plugins=plugins)
    assert [op.name for op in c.operations] == ["h"]


# -- limits are checked before the parse ------------------------------------------------


def test_size_limit(plugins):
    limits = LimitsSettings(max_qasm_bytes=40)
    err = reject(plugins, Q2 + "qreg q[1];\n", limits=limits)
    assert err.kind == "limit" and "max_qasm_bytes" in err.message


def test_declared_qubits_limit_points_at_the_declaration(plugins):
    err = reject(plugins, Q2 + "qreg a[3];\nqreg b[9];\n", limits=LimitsSettings(max_qubits=10))
    assert err.kind == "limit" and (err.line, err.column) == (4, 1)
    err = reject(plugins, Q3 + "qubit[5000000] q;\n")
    assert err.kind == "limit"


def test_statement_limit(plugins):
    src = Q2 + "qreg q[1];\n" + "h q[0];\n" * 20
    err = reject(plugins, src, limits=LimitsSettings(max_operations=10))
    assert err.kind == "limit" and "statements" in err.message


def test_expansion_bomb_stops_at_the_operation_limit(plugins):
    # each level doubles: g9 expands to 2**9 = 512 gates
    lines = ["gate g0 a { x a; }"]
    lines += [f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}" for i in range(1, 10)]
    src = Q2 + "\n".join(lines) + "\nqreg q[1];\ng9 q[0];\n"
    assert len(load_circuit(src, plugins=plugins).operations) == 512
    err = reject(plugins, src, limits=LimitsSettings(max_operations=100))
    assert err.kind == "limit" and "after custom gates are expanded" in err.message


# -- what the IR keeps ------------------------------------------------------------------


def test_custom_gates_expand_and_order_and_mapping_are_kept(plugins):
    src = Q2 + (
        "gate maj a,b,c { cx c,b; cx c,a; ccx a,b,c; }\n"
        "qreg a[2];\nqreg b[2];\ncreg m[2];\n"
        "maj a[1],b[0],b[1];\nrzz(pi/4) a[0],b[1];\nmeasure b[1] -> m[0];\n"
    )
    fmt, c = load_circuit_as(src, plugins=plugins)
    assert fmt == "qasm2"
    assert [r.name for r in c.qregs] == ["a", "b"]
    assert c.operations == (
        Operation("cx", [3, 2]),
        Operation("cx", [3, 1]),
        Operation("ccx", [1, 2, 3]),
        Operation("rzz", [0, 3], params=[math.pi / 4]),
        Operation("measure", [3], [0]),
    )


def test_conditions_resets_and_barriers(plugins):
    src = (
        Q2 + "qreg q[2];\ncreg c[2];\nreset q[0];\nbarrier q;\nmeasure q[0] -> c[0];\n"
        "if(c==1) x q[1];\n"
    )
    c = load_circuit(src, plugins=plugins)
    assert c.operations == (
        Operation("reset", [0]),
        Operation("barrier", [0, 1]),
        Operation("measure", [0], [0]),
        Operation("x", [1], condition=Condition([0, 1], 1, "c")),
    )


def test_qasm3_bit_condition_and_loose_qubit_names(plugins):
    src = (
        Q3 + "qubit r;\nqubit[2] q;\nbit[2] c;\nc[1] = measure r;\n"
        "if (c[1] == true) { h q[0]; cx q[0], q[1]; }\n"
    )
    c = load_circuit(src, plugins=plugins)
    assert [(reg.name, reg.size) for reg in c.qregs] == [("r", 1), ("q", 2)]
    cond = Condition([1], 1)
    assert c.operations[1:] == (
        Operation("h", [1], condition=cond),
        Operation("cx", [1, 2], condition=cond),
    )


def test_qasm3_id_stays_id(plugins):
    c = load_circuit(Q3 + "qubit[1] q;\nid q[0];\n", plugins=plugins)
    assert c.operations == (Operation("id", [0]),)


def test_opaque_gate_is_unsupported_at_its_use(plugins):
    err = reject(plugins, Q2 + "opaque magic a;\nqreg q[1];\nmagic q[0];\n")
    assert err.kind == "unsupported" and "magic" in err.message
    assert err.line == 3  # where the name first appears


def test_format_can_be_forced_and_is_checked(plugins):
    src = 'include "qelib1.inc";\nqreg q[1];\nh q[0];\n'
    assert load_circuit_as(src, plugins=plugins, format="qasm2")[0] == "qasm2"
    assert reject(plugins, src, format="quil").kind == "unsupported"


def test_headerless_program_is_read_in_its_dialect(plugins):
    assert load_circuit_as('include "qelib1.inc";\nqreg q[1];\n', plugins=plugins)[0] == "qasm2"
    assert load_circuit_as("qubit[1] q;\nU(0, 0, 0) q[0];\n", plugins=plugins)[0] == "qasm3"
    mixed = reject(plugins, "qreg q[1];\nqubit[1] r;\n")
    assert mixed.kind == "syntax" and "missing version header" in mixed.message


def test_qasm2_include_is_resolved_next_to_the_file(plugins, tmp_path):
    (tmp_path / "mygates.inc").write_text("gate flip a { x a; }\n")
    src = Q2 + 'include "mygates.inc";\nqreg q[1];\nflip q[0];\n'
    c = load_circuit(src, plugins=plugins, directory=tmp_path)
    assert c.operations == (Operation("x", [0]),)
    err = reject(plugins, src)  # no directory: the include cannot be found
    assert err.line == 3


def test_an_error_inside_an_included_file_names_that_file_and_points_at_nothing_here(
    plugins, tmp_path
):
    """FR-003: the position is the included file's, so it is said in the message."""
    (tmp_path / "bad.inc").write_text("gate flip a { x a }\n")
    err = reject(plugins, Q2 + 'include "bad.inc";\nqreg q[1];\n', directory=tmp_path)
    assert err.message.startswith("in included file bad.inc, line 1, column 19: needed ';'")
    assert (err.line, err.column) == (None, None)


# -- qiskit objects ------------------------------------------------------------------------


def test_qiskit_circuit_object(plugins):
    q, c = QuantumRegister(2, "q"), ClassicalRegister(2, "c")
    qc = QuantumCircuit(q, c, name="mine")
    qc.h(0)
    qc.append(CXGate(ctrl_state=0), [0, 1])  # an open control is not a plain cx
    qc.global_phase = 0.3
    qc.measure(0, 0)
    with qc.if_test((c, 2)):
        qc.x(1)
    fmt, circuit = load_circuit_as(qc, plugins=plugins)
    assert fmt == "qiskit" and circuit.name == "mine"
    names = [op.name for op in circuit.operations]
    assert names[0] == "h" and "cx" in names and names[-1] == "x"
    assert names.count("x") == 3  # x, cx, x around the open control, then the conditional x
    assert circuit.operations[-1].condition == Condition([0, 1], 2, "c")


def test_qiskit_circuit_with_unbound_parameter_is_unsupported(plugins):
    qc = QuantumCircuit(1)
    qc.rz(Parameter("theta"), 0)
    err = reject(plugins, qc)
    assert err.kind == "unsupported" and "theta" in err.message


def test_other_objects_are_refused(plugins):
    assert reject(plugins, object()).kind == "unsupported"


def test_a_gate_defined_under_a_standard_name_is_that_gate_only_if_it_acts_the_same(plugins):
    same = (
        Q3 + "gate rzz(t) a, b { cx a, b; rz(t) b; cx a, b; }\nqubit[2] q;\nrzz(0.3) q[0], q[1];\n"
    )
    assert load_circuit(same, plugins=plugins).operations == (
        Operation("rzz", [0, 1], params=[0.3]),
    )
    impostor = Q3 + "gate rzz(t) a, b { cx a, b; }\nqubit[2] q;\nrzz(0.3) q[0], q[1];\n"
    assert load_circuit(impostor, plugins=plugins).operations == (Operation("cx", [0, 1]),)
