"""Statistics of measured samples (median, p95) and the provenance written with them.

Used by the benchmarks, the harness and the CLI: percentiles and summaries, the machine
and the commit a result was measured on, one JSON file per result.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, float]:
    """``{n, median, p95, min, max}`` of a sample."""
    return {
        "n": len(values),
        "median": statistics.median(values),
        "p95": percentile(values, 95),
        "min": min(values),
        "max": max(values),
    }


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
    }


def commit() -> str:
    """The git commit of the working tree (``+dirty`` if it has changes), or ``unknown``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_result(out_dir: str | Path, name: str, data: dict[str, Any]) -> Path:
    """Write ``data`` plus machine, commit and time to ``out_dir/name.json``; return the path."""
    path = Path(out_dir) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": name,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine(),
        **data,
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def summary_ms(seconds: list[float]) -> dict[str, float]:
    """:func:`summary` of durations in seconds, in milliseconds (``n`` unchanged)."""
    return {k: (v * 1000 if k != "n" else v) for k, v in summary(seconds).items()}


def median_p95(s: dict[str, float]) -> str:
    """``"median / p95"`` of a summary, two decimals."""
    return f"{s['median']:.2f} / {s['p95']:.2f}"
