"""Benchmark plumbing: result files carry median, p95, machine and commit; --help stays lazy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qorch.bench.results import percentile, summary, write_result
from qorch.cli.main import main


def test_percentiles():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile([3.0], 95) == 3.0
    assert summary([1.0, 2.0, 3.0])["median"] == 2.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_result_file_records_machine_and_commit(tmp_path):
    path = write_result(tmp_path / "r", "demo", {"x": summary([1.0, 2.0])})
    data = json.loads(path.read_text())
    assert data["benchmark"] == "demo" and data["x"]["p95"] == pytest.approx(1.95)
    assert data["machine"]["cpus"] >= 1 and data["commit"]


def test_cli_startup_benchmark_writes_its_file(tmp_path, capsys):
    assert main(["bench", "cli-startup", "--runs", "2", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "cli-startup.json").read_text())
    assert data["qorch_help"]["n"] == 2 and data["python_startup"]["n"] == 2
    assert "written to" in capsys.readouterr().out


def test_help_imports_nothing_heavy():
    """What keeps `qorch --help` fast: the entry module imports only argparse."""
    code = (
        "import sys, qorch.cli.main as m; m.build_parser(); "
        "print([x for x in ('qiskit', 'dynaconf', 'loguru', 'peewee', 'rich', 'pluggy', "
        "'attrs') if x in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
