"""An input to be parsed, and the checks made before any parser sees it (FR-014).

Bytes are size-checked, then decoded as UTF-8 (a bad byte is an ``encoding`` error at
its line and column); empty input is rejected; declared qubits and the number of
statements are counted with a cheap lexical scan so a huge ``qreg`` or an enormous file
is refused before qiskit builds anything.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs

from qorch.config import LimitsSettings
from qorch.errors import CircuitError, SourceLocation


@attrs.frozen
class CircuitSource:
    """One input: OpenQASM text, or a ready-made circuit object (e.g. a ``QuantumCircuit``).

    ``origin`` names it in messages (a file path, ``"-"`` for stdin, ``"<object>"``);
    ``directory`` is where relative ``include`` statements are resolved.
    """

    text: str | None = None
    obj: object | None = attrs.field(default=None, eq=False)
    origin: str = "<input>"
    directory: Path | None = None

    def header(self) -> tuple[str | None, int]:
        """The ``OPENQASM x.y`` version and its 1-based line, or ``(None, 0)``."""
        if self.text is None:
            return None, 0
        m = _HEADER.match(_strip_comments(self.text))
        if not m:
            return None, 0
        return m.group(1), self.text.count("\n", 0, m.start(1)) + 1


_HEADER = re.compile(r"\s*OPENQASM\s+([0-9]+(?:\.[0-9]+)?)\s*;")
_LINE_COMMENT = re.compile(r"//[^\n]*")
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)


def _strip_comments(text: str) -> str:
    """Replace comments with spaces, keeping every newline (so offsets stay valid)."""

    def blank(m: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", m.group(0))

    return _LINE_COMMENT.sub(blank, _BLOCK_COMMENT.sub(blank, text))


def decode(data: bytes | str, limits: LimitsSettings, origin: str = "<input>") -> str:
    """Size-check and decode ``data``; raise a ``limit``/``encoding``/``syntax`` CircuitError."""
    size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
    if size > limits.max_qasm_bytes:
        raise CircuitError(
            "limit",
            f"{origin} is {size} bytes; limits.max_qasm_bytes is {limits.max_qasm_bytes}",
        )
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = data[: exc.start]
            line = before.count(b"\n") + 1
            column = exc.start - (before.rfind(b"\n") + 1) + 1
            shown = data.split(b"\n")[line - 1].decode("utf-8", "replace")
            raise CircuitError(
                "encoding",
                f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}",
                SourceLocation(line, column, shown),
            ) from None
    else:
        text = data
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise CircuitError(
            "syntax", "empty input: expected an OpenQASM program", SourceLocation(1, 1, "")
        )
    return text


_QREG = re.compile(r"\b(?:qreg\s+[A-Za-z_]\w*\s*\[\s*(\d+)\s*\]|qubit\s*\[\s*(\d+)\s*\])")
_QUBIT1 = re.compile(r"\bqubit\s+[A-Za-z_]\w*\s*;")


def prescan(text: str, limits: LimitsSettings) -> None:
    """Cheap lexical limits check before parsing: declared qubits and statement count."""
    code = _strip_comments(text)
    total = 0
    for m in _QREG.finditer(code):
        total += int(m.group(1) or m.group(2))
        if total > limits.max_qubits:
            line = code.count("\n", 0, m.start()) + 1
            raise CircuitError(
                "limit",
                f"declares more than limits.max_qubits = {limits.max_qubits} qubits",
                SourceLocation.in_text(text, line, m.start() - code.rfind("\n", 0, m.start())),
            )
    total += len(_QUBIT1.findall(code))
    if total > limits.max_qubits:
        raise CircuitError(
            "limit", f"declares {total} qubits; limits.max_qubits is {limits.max_qubits}"
        )
    statements = code.count(";")
    if statements > limits.max_operations:
        raise CircuitError(
            "limit",
            f"has {statements} statements; limits.max_operations is {limits.max_operations}",
        )


def locate_word(text: str | None, word: str) -> SourceLocation | None:
    """Where ``word`` first appears as a whole word outside comments, or ``None``."""
    if not text:
        return None
    code = _strip_comments(text)
    m = re.search(rf"(?<![\w.]){re.escape(word)}(?!\w)", code)
    if not m:
        return None
    line = code.count("\n", 0, m.start()) + 1
    column = m.start() - (code.rfind("\n", 0, m.start()) + 1) + 1
    return SourceLocation.in_text(text, line, column)
