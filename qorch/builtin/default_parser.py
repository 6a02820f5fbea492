"""The built-in parser objects registered by :mod:`qorch.builtin` (FR-003).

Each is a thin, import-cheap front: the real work (and the qiskit import) happens in
:mod:`qorch.builtin.qasm2`, :mod:`qorch.builtin.qasm3` and
:mod:`qorch.qiskit_bridge` on the first parse.
"""

from __future__ import annotations

import re

from qorch.config import LimitsSettings
from qorch.errors import CircuitError
from qorch.ir import Circuit
from qorch.source import CircuitSource


class Qasm2:
    """OpenQASM 2.0 through qiskit.qasm2, with qiskit's legacy ``qelib1.inc`` gates."""

    formats = ("qasm2",)

    def parse(self, source: CircuitSource, limits: LimitsSettings) -> Circuit:
        """Parse OpenQASM 2 text into IR."""
        from qorch.builtin.qasm2 import Qasm2Parser  # start-up: qiskit on the first parse

        return Qasm2Parser().parse(source, limits)


class Qasm3:
    """OpenQASM 3 through the reference grammar and qiskit-qasm3-import."""

    formats = ("qasm3",)

    def parse(self, source: CircuitSource, limits: LimitsSettings) -> Circuit:
        """Parse OpenQASM 3 text into IR."""
        from qorch.builtin.qasm3 import Qasm3Parser  # start-up: qiskit on the first parse

        return Qasm3Parser().parse(source, limits)


class QiskitObject:
    """A qiskit ``QuantumCircuit`` object, converted gate by gate."""

    formats = ("qiskit",)

    def parse(self, source: CircuitSource, limits: LimitsSettings) -> Circuit:
        """Convert ``source.obj`` (a QuantumCircuit) into IR."""
        # start-up: qiskit on the first parse, not when the plugin system loads
        from qiskit import QuantumCircuit

        from qorch.qiskit_bridge import from_qiskit  # start-up: it imports qiskit

        if not isinstance(source.obj, QuantumCircuit):
            raise CircuitError(
                "unsupported", f"expected a qiskit QuantumCircuit, got {type(source.obj).__name__}"
            )
        name = source.obj.name or ""
        if re.fullmatch(r"circuit-\d+", name):
            name = ""  # qiskit's generated default, not a name anyone gave
        return from_qiskit(source.obj, limits, name=name)
