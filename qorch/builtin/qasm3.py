"""The OpenQASM 3 parser (FR-003): the reference ANTLR grammar and qiskit-qasm3-import.

The grammar is ``openqasm3``'s; conversion is ``qiskit_qasm3_import``'s. What we add is
error reporting: every syntax error carries ANTLR's line and column, and the converter
is wrapped so that any failure in a statement (an out-of-range index, a wrong number of
gate arguments, a duplicate declaration, which qiskit reports without a position) is
reported at that statement, with a precise message where we can check first.
"""

from __future__ import annotations

import re
from typing import Any

from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ErrorListener
from openqasm3 import ast
from openqasm3._antlr.qasm3Lexer import qasm3Lexer
from openqasm3._antlr.qasm3Parser import qasm3Parser
from openqasm3.parser import QASM3ParsingError, QASMNodeVisitor
from qiskit.circuit import QuantumRegister
from qiskit.circuit.library import IGate
from qiskit_qasm3_import import types
from qiskit_qasm3_import.converter import ConvertVisitor, _escape_qasm2
from qiskit_qasm3_import.data import Scope, Symbol
from qiskit_qasm3_import.exceptions import ConversionError, raise_from_node

from qorch.config import LimitsSettings
from qorch.errors import CircuitError, SourceLocation
from qorch.ir import Circuit
from qorch.qasm_emit import own_definitions
from qorch.qiskit_bridge import from_qiskit
from qorch.source import CircuitSource, locate_word

_POSITION = re.compile(r"^(?P<line>\d+),(?P<col>\d+): (?P<msg>.*)$", re.S)
_ANTLR_POSITION = re.compile(r"^L(?P<line>\d+):C(?P<col>\d+): (?P<msg>.*)$", re.S)


class _SyntaxAt(Exception):
    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


def _parse_program(text: str) -> Any:
    """ANTLR parse with an error listener that stops at the first error, with position."""

    class FirstError(ErrorListener):
        def syntaxError(
            self, recognizer: Any, offendingSymbol: Any, line: int, column: int, msg: str, e: Any
        ) -> None:
            raise _SyntaxAt(line, column, msg)

    lexer = qasm3Lexer(InputStream(text))
    lexer.removeErrorListeners()
    lexer.addErrorListener(FirstError())
    parser = qasm3Parser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(FirstError())
    tree = parser.program()
    return QASMNodeVisitor().visitProgram(tree)


def _converter_class() -> type:
    """A ConvertVisitor that checks what qiskit would report without a position."""

    class CheckingConverter(ConvertVisitor):
        def visit(self, node: Any, context: Any = None) -> Any:
            if isinstance(node, ast.Statement):
                self._check_statement(node, context)
            try:
                return super().visit(node, context)
            except ConversionError:
                raise
            except Exception as exc:
                detail = str(exc).strip("'\"") or type(exc).__name__
                raise ConversionError(detail, node) from exc

        def _check_statement(self, node: Any, context: Any) -> None:
            if isinstance(node, ast.QubitDeclaration | ast.ClassicalDeclaration):
                ident = node.qubit if isinstance(node, ast.QubitDeclaration) else node.identifier
                old = context.symbol_table.get(ident.name, node)
                if old is not None and old.scope is Scope.GLOBAL:
                    line = old.definer.span.start_line if old.definer and old.definer.span else None
                    raise_from_node(
                        ident,
                        f"'{ident.name}' is already defined" + (f" (line {line})" if line else ""),
                    )
            if isinstance(node, ast.QuantumGate):
                symbol = context.symbol_table.get(node.name.name, node)
                if (
                    symbol is not None
                    and isinstance(symbol.type, types.Gate)
                    and isinstance(symbol.type.n_quantum, int)
                ):
                    gate = symbol.type
                    if len(node.qubits) != gate.n_quantum:
                        raise_from_node(
                            node,
                            f"'{node.name.name}' takes {gate.n_quantum} qubit arguments, "
                            f"but got {len(node.qubits)}",
                        )
                    if len(node.arguments) != gate.n_classical:
                        raise_from_node(
                            node,
                            f"'{node.name.name}' takes {gate.n_classical} parameters, "
                            f"but got {len(node.arguments)}",
                        )
            for indexed in _indexed_identifiers(node):
                self._check_index(indexed, context)

        def _check_index(self, node: Any, context: Any) -> None:
            symbol = context.symbol_table.get(node.name.name, node)
            size = getattr(symbol.type, "size", None) if symbol is not None else None
            if not isinstance(size, int):
                return
            for index in node.indices:
                for element in index if isinstance(index, list) else [index]:
                    if isinstance(element, ast.IntegerLiteral) and not (
                        -size <= element.value < size
                    ):
                        raise_from_node(
                            element,
                            f"index {element.value} is out of range for "
                            f"register '{node.name.name}' of size {size}",
                        )

        def visit_Include(self, node: Any, context: Any) -> Any:
            context = super().visit_Include(node, context)
            if node.filename == "stdgates.inc":
                # qiskit-qasm3-import reads `id` as U(0, 0, 0); for qorch it is `id`.
                context.symbol_table.get("id", node).data = IGate
            return context

        def visit_QubitDeclaration(self, node: Any, context: Any) -> Any:
            if node.size is not None:
                return super().visit_QubitDeclaration(node, context)
            # `qubit r;` keeps its name: a register of one qubit.
            context.addressing_mode.set_virtual_mode(node)
            register = QuantumRegister(1, name=_escape_qasm2(node.qubit.name))
            context.circuit.add_register(register)
            context.symbol_table.insert(
                Symbol(node.qubit.name, register, types.QubitArray(1), Scope.GLOBAL, node)
            )
            return context

    return CheckingConverter


def _indexed_identifiers(node: Any) -> list[Any]:

    found: list[Any] = []

    def walk(value: Any) -> None:
        if isinstance(value, ast.IndexedIdentifier):
            found.append(value)
        if isinstance(value, ast.QASMNode) and not isinstance(
            value, ast.QuantumGateDefinition | ast.BranchingStatement | ast.Box
        ):
            for child in vars(value).values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(node)
    return found


class Qasm3Parser:
    """OpenQASM 3 through the reference grammar and qiskit-qasm3-import."""

    formats = ("qasm3",)

    def parse(self, source: CircuitSource, limits: LimitsSettings) -> Circuit:
        """Parse ``source.text``; raise :class:`CircuitError` for any problem."""

        text = source.text or ""
        try:
            program = _parse_program(text)
        except _SyntaxAt as exc:
            raise CircuitError(
                "syntax", exc.message, SourceLocation.in_text(text, exc.line, exc.column + 1)
            ) from None
        except QASM3ParsingError as exc:
            raise _positioned("syntax", str(exc), _ANTLR_POSITION, text) from None
        try:
            qc = _converter_class()().convert(program, source=text).circuit
        except ConversionError as exc:
            raise _positioned(_kind(exc.message), exc.message, _POSITION, text) from None
        return from_qiskit(
            qc,
            limits,
            locate=lambda word: locate_word(text, word),
            trusted=own_definitions(text, 3),
        )


_UNSUPPORTED = ("not supported", "unsupported", "only ", "is required to handle")


def _kind(message: str) -> str:
    """``unsupported`` for valid OpenQASM 3 that qorch cannot hold; else ``semantic``."""
    lowered = message.lower()
    return "unsupported" if any(w in lowered for w in _UNSUPPORTED) else "semantic"


def _positioned(kind: str, message: str, pattern: re.Pattern[str], text: str) -> CircuitError:
    m = pattern.match(message)
    if not m:
        return CircuitError(kind, message)
    line, col = int(m.group("line")), int(m.group("col"))
    lines = text.splitlines(keepends=True)
    if 1 <= line <= len(lines) and col > len(lines[line - 1]):
        # openqasm3 gives identifiers an absolute character offset, not a column.
        col -= sum(len(t) for t in lines[: line - 1])
    return CircuitError(kind, m.group("msg"), SourceLocation.in_text(text, line, col + 1))
