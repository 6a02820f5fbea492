"""How the CLI shows a job's result: counts, estimated vs achieved fidelity, ebits,
fragments per node and timings (``qorch run`` and ``qorch result``), and the executed
circuit written to a file (``--executed``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from qorch.errors import ConfigError


def write_executed(path: str, text: str) -> None:
    """Write the executed circuit's OpenQASM 3 to ``path`` ('-': stdout)."""
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the executed circuit to {path}: {exc.strerror}") from None


def print_result(name: str, result: dict[str, Any]) -> None:
    """A readable table of a job result (``JobResult.to_dict()``, or the API's result)."""

    console = Console(width=120)
    shots = result["shots"]
    console.print(f"[bold]{name}[/bold]: {shots} shots")
    counts = Table("outcome", "count", "share")
    top = sorted(result["counts"].items(), key=lambda kv: -kv[1])[:16]
    for outcome, n in top:
        counts.add_row(outcome, str(n), f"{n / shots:.3f}")
    console.print(counts)
    achieved = result["achieved_fidelity"]
    summary = Table("estimated fidelity", "achieved fidelity", "ebits", "fragments per node")
    summary.add_row(
        f"{result['estimated_fidelity']:.4f}",
        "-" if achieved is None else f"{achieved:.4f}",
        str(result["ebits"]),
        ", ".join(f"{n}: {c}" for n, c in result["fragments_per_node"].items()),
    )
    console.print(summary)
    console.print(
        f"wall {result['wall_ms']:.1f} ms (compile {result['compile_ms']:.1f} ms, simulated "
        f"critical path {result.get('critical_path_ms', 0.0):.4f} ms, orchestration overhead "
        f"{result['orchestration_overhead_ms']:.1f} ms); world simulation "
        f"{result.get('simulate_ms', 0.0):.1f} ms; retries {result['retries']}, "
        f"fallbacks {len(result['fallbacks'])}"
        + ("" if result["simulated"] else f"; not simulated: {result['reason']}")
    )
