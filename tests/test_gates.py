"""The IR gate table (FR-003) agrees with qiskit and with both QASM dialects."""

from __future__ import annotations

import qiskit.qasm2 as qasm2
from qiskit.circuit.library import C3XGate, get_standard_gate_name_mapping
from qiskit_qasm3_import.converter import _STDGATES

from qorch.gates import GATES, gate_info


def test_every_gate_matches_qiskit_arity_and_parameters():
    mapping = get_standard_gate_name_mapping()
    for name, info in GATES.items():
        gate = C3XGate() if name == "c3x" else mapping[name]
        assert (gate.num_qubits, len(gate.params)) == (info.num_qubits, info.num_params), name


def test_every_fixed_standard_gate_is_in_the_table():
    skipped = {"delay", "measure", "reset", "global_phase"}
    missing = set(get_standard_gate_name_mapping()) - skipped - set(GATES)
    assert not missing


def test_native_names_exist_in_the_dialects():
    qelib1 = {c.name: c for c in qasm2.LEGACY_CUSTOM_INSTRUCTIONS}
    for name, info in GATES.items():
        if info.qasm3 is not None and info.qasm3 != "U":
            assert info.qasm3 in _STDGATES, name
            assert _STDGATES[info.qasm3][2] == info.num_qubits
        if info.qasm2 is not None:
            assert qelib1[info.qasm2].num_qubits == info.num_qubits, name
            assert qelib1[info.qasm2].num_params == info.num_params, name


def test_gate_info_lookup():
    assert gate_info("cx").num_qubits == 2
    assert gate_info("nope") is None


def test_diagonality_table_matches_qiskit_matrices():
    import numpy as np
    from qiskit.quantum_info import Operator

    from qorch.gates import diagonal_on
    from qorch.qiskit_bridge import standard_gate

    z, i = np.diag([1, -1]), np.eye(2)
    for name, info in GATES.items():
        if info.num_qubits > 2:
            continue
        u = Operator(standard_gate(name, [0.37 * (k + 1) for k in range(info.num_params)])).data
        zs = [z] if info.num_qubits == 1 else [np.kron(i, z), np.kron(z, i)]  # little-endian
        assert diagonal_on(name) == tuple(bool(np.allclose(u @ m, m @ u)) for m in zs), name
