"""The built-in plugin: small defaults that need nothing beyond the kernel's dependencies.

Registered in code (not through an entry point) under the plugin name ``builtin``,
distribution ``qorch``. It provides the circuit parsers (``qasm2``, ``qasm3``,
``qiskit``) and the default input detection. Importing this module is cheap: parsers
import qiskit only when they parse.
"""

from __future__ import annotations

from qorch.builtin.parsers import Qasm2, Qasm3, QiskitObject
from qorch.hookspecs import Register, hookimpl
from qorch.ingest.source import CircuitSource

#: major version in an ``OPENQASM x.y;`` header -> parser name
VERSION_PARSERS = {"2": "qasm2", "3": "qasm3"}


@hookimpl
def qorch_register_parsers(register: Register) -> None:
    """Register the OpenQASM 2, OpenQASM 3 and qiskit-object parsers (FR-003)."""
    register("qasm2", Qasm2())
    register("qasm3", Qasm3())
    register("qiskit", QiskitObject())


@hookimpl(trylast=True)
def qorch_select_parser(source: CircuitSource, format: str) -> str | None:
    """Built-in detection: objects → ``qiskit``; text by ``format`` or its version header."""
    if source.obj is not None:
        return "qiskit" if type(source.obj).__name__ == "QuantumCircuit" else None
    if format in ("qasm2", "qasm3"):
        return format
    if format != "auto":
        return None
    version, _line = source.header()
    if version is None:
        return None
    return VERSION_PARSERS.get(version.split(".")[0])
