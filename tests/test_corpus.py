"""The QASMBench corpus (FR-003): agreement with qiskit, malformed files, faithful re-emission.

Reads ``../shared/corpus/qasmbench`` in place; skipped with a reason when it is absent.
"""

from __future__ import annotations

import re

import pytest
import qiskit.qasm2 as qasm2
import qiskit.qasm3 as qasm3
from qiskit import QuantumCircuit
from qiskit.quantum_info import Operator

from qorch.errors import CircuitError
from qorch.ingest.load import load_circuit
from qorch.qasm_emit import to_qasm3
from tests.conftest import CORPUS, corpus_files, needs_corpus

pytestmark = [needs_corpus, pytest.mark.corpus]

FILES = corpus_files()
MALFORMED = [f for f in FILES if f.name.startswith("vqe_uccsd_n")]


def qiskit_reads(path):
    try:
        return qasm2.loads(path.read_text(), custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    except qasm2.QASM2ParseError:
        return None


def rel(path) -> str:
    return str(path.relative_to(CORPUS))


def test_the_corpus_is_what_we_expect():
    assert len(FILES) == 124
    assert len(MALFORMED) == 6
    assert sum(qiskit_reads(f) is not None for f in FILES) == 118


@pytest.mark.parametrize("path", [f for f in FILES if f not in MALFORMED], ids=rel)
def test_agrees_with_qiskit_on_qubits_clbits_and_measurements(plugins, path):
    ref = qiskit_reads(path)
    ours = load_circuit(path.read_bytes(), plugins=plugins, origin=str(path))
    assert ours.num_qubits == ref.num_qubits
    assert ours.num_clbits == ref.num_clbits
    assert sum(op.name == "measure" for op in ours.operations) == sum(
        i.operation.name == "measure" for i in ref.data
    )


@pytest.mark.parametrize("path", MALFORMED, ids=rel)
def test_malformed_files_are_rejected_at_the_first_undeclared_use(plugins, path):
    text = path.read_text()
    with pytest.raises(CircuitError) as info:
        load_circuit(text, plugins=plugins, origin=str(path))
    err = info.value
    first = next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("measure"))
    assert (err.kind, err.line, err.column) == ("semantic", first, 9)
    assert "'q' is not defined" in err.message
    assert err.location.source_line.startswith("measure q[0]")


def _unitary_part(qc: QuantumCircuit) -> tuple[QuantumCircuit, list[tuple[int, int]]] | None:
    """The gates of ``qc`` and its final measurement map, or None if it is not of that shape."""
    gates = qc.copy_empty_like()
    measured: list[tuple[int, int]] = []
    for instr in qc.data:
        name = instr.operation.name
        qubits = [qc.find_bit(q).index for q in instr.qubits]
        if name == "measure":
            measured.append((qubits[0], qc.find_bit(instr.clbits[0]).index))
        elif name == "barrier":
            continue
        elif name in ("reset", "if_else") or any(q in dict(measured) for q in qubits):
            return None  # not a unitary followed by measurements
        else:
            gates.append(instr)
    return gates, measured


SMALL = [
    f
    for f in FILES
    if f not in MALFORMED
    and f.stat().st_size < 40_000
    and int(re.search(r"_n(\d+)", f.name).group(1)) <= 8
]


@pytest.mark.parametrize("path", SMALL, ids=rel)
def test_emitted_qasm3_is_the_same_circuit(plugins, path):
    """Read back by qiskit itself: same unitary up to global phase, same measurement map."""
    ours = load_circuit(path.read_bytes(), plugins=plugins)
    emitted = to_qasm3(ours)
    assert load_circuit(emitted, plugins=plugins) == ours
    original = _unitary_part(qiskit_reads(path))
    if original is None:
        pytest.skip("mid-circuit measurement, reset or condition: no unitary to compare")
    again = _unitary_part(qasm3.loads(emitted))
    assert again is not None
    assert sorted(again[1]) == sorted(original[1])
    assert Operator(again[0]).equiv(Operator(original[0]))
