"""``qorch parse``: parse circuits and describe them (FR-003, FR-014).

Exit status 0 when every input parsed (and could be emitted), 2 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import attrs
from rich.console import Console
from rich.table import Table

from qorch.cli.app import started
from qorch.errors import CircuitError
from qorch.ingest.load import load_circuit_as
from qorch.ir import summarize
from qorch.qasm_emit import to_qasm2, to_qasm3


def read_input(name: str, max_bytes: int) -> tuple[bytes, Path | None]:
    """Read a file (or stdin for '-') without reading more than the limit + 1 bytes."""
    if name == "-":
        return sys.stdin.buffer.read(max_bytes + 1), None
    path = Path(name)
    with path.open("rb") as fh:
        return fh.read(max_bytes + 1), path.resolve().parent


def describe_file(name: str, app: Any, fmt: str, emit: str | None) -> dict[str, Any]:
    """Parse one input; the JSON-able result (summary, or ``error``)."""

    limits = app.settings.limits
    try:
        data, directory = read_input(name, limits.max_qasm_bytes)
    except OSError as exc:
        return {
            "file": name,
            "error": {
                "kind": "io",
                "message": exc.strerror or str(exc),
                "line": None,
                "column": None,
                "source_line": None,
            },
        }
    try:
        parser, circuit = load_circuit_as(
            data,
            plugins=app.plugins,
            limits=limits,
            format=fmt,
            origin=name,
            directory=directory,
        )
        out: dict[str, Any] = {"file": name, "format": parser, **attrs.asdict(summarize(circuit))}
        if emit:
            out["qasm"] = to_qasm3(circuit) if emit == "qasm3" else to_qasm2(circuit)
    except CircuitError as exc:
        return {"file": name, "error": exc.to_dict()}
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``qorch parse``."""
    with started(args) as app:
        results = [describe_file(f, app, args.format, args.emit) for f in args.files]
    if args.json:
        for r in results:
            print(json.dumps(r))
    else:
        _print_tables(results)
    return 2 if any("error" in r for r in results) else 0


def _print_tables(results: list[dict[str, Any]]) -> None:

    console = Console()
    table = Table(title="circuits", title_justify="left")
    table.add_column("file", overflow="fold", ratio=2)
    table.add_column("fmt", no_wrap=True)
    for col in ("qubits", "clbits", "ops", "meas", "depth"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("operations", overflow="fold", ratio=3)
    for r in results:
        name = Path(r["file"]).name
        if "error" in r:
            kind = r["error"]["kind"]
            table.add_row(name, "[red]--[/red]", "", "", "", "", "", f"[red]{kind} error[/red]")
            continue
        ops = " ".join(f"{k}:{v}" for k, v in r["ops_by_name"].items())
        table.add_row(
            name,
            r["format"],
            str(r["num_qubits"]),
            str(r["num_clbits"]),
            str(r["num_ops"]),
            str(r["num_measurements"]),
            str(r["depth"]),
            ops,
        )
    console.print(table)
    for r in results:
        if "error" in r:
            e = r["error"]
            where = f":{e['line']}:{e['column']}" if e.get("line") else ""
            console.print(
                f"[red]{r['file']}{where}: {e['kind']} error:[/red] {e['message']}", highlight=False
            )
            if e.get("source_line") is not None:
                console.print(f"    {e['source_line']}", highlight=False, markup=False)
                if e.get("column"):
                    console.print("    " + " " * (e["column"] - 1) + "^", highlight=False)
        elif "qasm" in r:
            console.print(f"[bold]{r['file']}[/bold] re-emitted:")
            console.print(r["qasm"], highlight=False, markup=False)


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch parse``'s arguments (FR-003)."""
    parser.description = "Parse OpenQASM 2/3 files (FR-003) and describe them."
    parser.add_argument("files", nargs="+", metavar="FILE", help="circuit files; '-' reads stdin")
    parser.add_argument(
        "--format",
        default="auto",
        help="auto (from the OPENQASM header), qasm2, qasm3, or a plugin's format",
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per input (JSON Lines)"
    )
    parser.add_argument(
        "--emit", choices=("qasm3", "qasm2"), help="also print the circuit re-emitted"
    )
    parser.set_defaults(handler=run)
