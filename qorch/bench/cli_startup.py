"""``qorch bench cli-startup``: how long ``qorch --help`` takes (target: under 0.5 s).

Each run is a fresh process, as a user would start it. A bare ``python -c pass`` is timed
in the same run, interleaved, so the ratio says how much qorch adds on this (noisy,
2-core) machine whatever its load.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from qorch.stats import summary, write_result

TARGET_SECONDS = 0.5


def _qorch_command() -> list[str]:
    script = Path(sys.executable).with_name("qorch")
    if script.exists():
        return [str(script)]
    found = shutil.which("qorch")
    return [found] if found else [sys.executable, "-m", "qorch"]


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def run(runs: int, out_dir: str) -> dict[str, Any]:
    """Time ``runs`` invocations (after 2 warm-ups) and write ``cli-startup.json``."""
    qorch = [*_qorch_command(), "--help"]
    python = [sys.executable, "-c", "pass"]
    for _ in range(2):
        _time(qorch)
        _time(python)
    help_times, python_times = [], []
    for _ in range(runs):
        help_times.append(_time(qorch))
        python_times.append(_time(python))
    help_s, python_s = summary(help_times), summary(python_times)
    data = {
        "command": " ".join(qorch),
        "unit": "seconds",
        "qorch_help": help_s,
        "python_startup": python_s,
        "ratio_median": help_s["median"] / python_s["median"],
        "target_p95": TARGET_SECONDS,
        "meets_target": help_s["p95"] < TARGET_SECONDS,
    }
    data["file"] = str(write_result(out_dir, "cli-startup", data))
    return data
