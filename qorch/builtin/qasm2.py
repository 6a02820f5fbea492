"""The OpenQASM 2 parser (FR-003): qiskit's ``qiskit.qasm2`` grammar, qorch's errors.

QASMBench-style files use the gates of qiskit's extended ``qelib1.inc`` (``rzz``,
``c3x``, ``cu1`` ...), so we load with ``LEGACY_CUSTOM_INSTRUCTIONS``. qiskit reports
problems as ``"<input>:LINE,COL: message"`` with a 0-based column, quoted with ``"`` or
``'`` (whichever the message does not contain: a bad expression or a measure between
registers of different sizes comes single-quoted); we turn that into a
:class:`~qorch.errors.CircuitError` with 1-based line and column and the source line.
"""

from __future__ import annotations

import re

import qiskit.qasm2 as qasm2

from qorch.config import LimitsSettings
from qorch.errors import CircuitError, SourceLocation
from qorch.ir import Circuit
from qorch.qasm_emit import own_definitions
from qorch.qiskit_bridge import from_qiskit
from qorch.source import CircuitSource, locate_word

_POSITION = re.compile(r"^(?P<file>[^:]*):(?P<line>\d+),(?P<col>\d+): (?P<msg>.*)$", re.S)
_SEMANTIC = (
    "not defined",
    "already defined",
    "out-of-range",
    "out of range",
    "takes",
    "arguments",
    "mismatched",
    "must be",
    "cannot",
    "is not a",
    "duplicate",
    "unknown",
    "overflow",
    "too large",
)


def classify(message: str) -> str:
    """``semantic`` for name, index and arity problems; ``syntax`` for the rest."""
    lowered = message.lower()
    return "semantic" if any(w in lowered for w in _SEMANTIC) else "syntax"


class Qasm2Parser:
    """OpenQASM 2.0 through qiskit.qasm2, with qiskit's legacy ``qelib1.inc`` gates."""

    formats = ("qasm2",)

    def parse(self, source: CircuitSource, limits: LimitsSettings) -> Circuit:
        """Parse ``source.text``; raise :class:`CircuitError` for any problem."""

        text = source.text or ""
        include_path = [str(source.directory)] if source.directory else []
        try:
            qc = qasm2.loads(
                text,
                include_path=include_path,
                custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS,
            )
        except qasm2.QASM2ParseError as exc:
            raise _to_circuit_error(str(exc), text) from None
        return from_qiskit(
            qc,
            limits,
            locate=lambda word: locate_word(text, word),
            trusted=own_definitions(text, 2),
        )


def _unquote(message: str) -> str:
    """qiskit's message without the quotes around it (either kind, FR-003)."""
    message = message.strip()
    if len(message) >= 2 and message[0] == message[-1] and message[0] in "\"'":
        return message[1:-1]
    return message


def _to_circuit_error(message: str, text: str) -> CircuitError:
    message = _unquote(message)
    m = _POSITION.match(message)
    if not m:
        return CircuitError(classify(message), message)
    msg = m.group("msg")
    line, column = int(m.group("line")), int(m.group("col")) + 1
    if m.group("file") not in ("<input>", ""):
        # The problem is inside an included file: say which, point at nothing here.
        return CircuitError(
            classify(msg),
            f"in included file {m.group('file')}, line {line}, column {column}: {msg}",
        )
    return CircuitError(classify(msg), msg, SourceLocation.in_text(text, line, column))
