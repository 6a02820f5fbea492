"""Load a circuit from text, bytes or an object (FR-003, FR-014).

:func:`load_circuit` is the one entry point: size and encoding checks, the lexical
pre-scan, parser selection through the ``qorch_select_parser`` hook, parsing, and the
structural check of the result. Whatever goes wrong is one :class:`CircuitError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loguru import logger

from qorch.config import LimitsSettings
from qorch.errors import CircuitError, QorchError, SourceLocation, UnknownImplementation
from qorch.interfaces import Plugins
from qorch.ir import Circuit
from qorch.source import CircuitSource, decode, prescan

FORMATS = ("auto", "qasm2", "qasm3")


def load_circuit(data: bytes | str | object, **kwargs: Any) -> Circuit:
    """Parse ``data`` into a :class:`~qorch.ir.Circuit` or raise :class:`CircuitError`.

    Takes the arguments of :func:`load_circuit_as`, which also says which parser read it.
    """
    return load_circuit_as(data, **kwargs)[1]


def load_circuit_as(
    data: bytes | str | object,
    *,
    plugins: Plugins,
    limits: LimitsSettings | None = None,
    format: str = "auto",
    origin: str = "<input>",
    directory: Path | None = None,
) -> tuple[str, Circuit]:
    """Parse ``data``; return ``(parser name, circuit)`` or raise :class:`CircuitError`.

    Args:
        data: OpenQASM source (``bytes`` are decoded as UTF-8) or a circuit object.
        plugins: where the parsers come from.
        limits: input limits (default: the plugin system's settings).
        format: ``"auto"`` (detect from the ``OPENQASM`` header) or a format name.
        origin: how messages name the input.
        directory: where relative ``include`` files are looked up.
    """
    limits = limits or plugins.settings.limits
    if isinstance(data, bytes | str):
        text = decode(data, limits, origin)
        prescan(text, limits)
        source = CircuitSource(text=text, origin=origin, directory=directory)
    else:
        source = CircuitSource(obj=data, origin=origin)
    name = plugins.select_parser(source, format)
    if name is None:
        raise _no_parser(source, format)
    try:
        parser = plugins.parser(name)
    except UnknownImplementation as exc:
        raise CircuitError("unsupported", str(exc)) from None
    try:
        circuit = parser.parse(source, limits)
    except QorchError:
        raise
    except Exception as exc:  # a parser bug must still not reach the user as a traceback
        logger.opt(exception=exc).debug("parser {} failed on {}", name, origin)
        msg = f"{name} parser failed: {type(exc).__name__}: {exc}"
        raise CircuitError("semantic", msg) from None
    try:
        circuit.validate()
    except ValueError as exc:
        msg = f"parser {name!r} produced an invalid circuit: {exc}"
        raise CircuitError("semantic", msg) from None
    return name, circuit


def _no_parser(source: CircuitSource, format: str) -> CircuitError:
    if source.text is None:
        return CircuitError("unsupported", f"no parser accepts a {type(source.obj).__name__}")
    if format != "auto":
        return CircuitError("unsupported", f"no parser for format {format!r}")
    version, line = source.header()
    if version is not None:
        return CircuitError(
            "unsupported",
            f"unknown OpenQASM version {version}; qorch reads versions 2 and 3",
            SourceLocation.in_text(source.text, line, 1),
        )
    first = next(
        (
            i
            for i, t in enumerate(source.text.splitlines(), 1)
            if t.strip() and not t.strip().startswith("//")
        ),
        1,
    )
    return CircuitError(
        "syntax",
        "missing version header: the program must start with 'OPENQASM 2.0;' or "
        "'OPENQASM 3.0;' (or pass --format)",
        SourceLocation.in_text(source.text, first, 1),
    )
