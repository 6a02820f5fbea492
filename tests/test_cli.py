"""The ``qorch`` command line: parse, plugins, config, db; exit codes; no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qorch.cli.main import main
from tests.conftest import REPO

EXAMPLES = REPO / "examples" / "circuits"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_parse_json_lines_with_summary_and_errors(capsys, tmp_path):
    bad = tmp_path / "bad.qasm"
    bad.write_bytes(b"OPENQASM 2.0;\nqreg q[1];\nx \xfe;\n")
    code, out, _ = run(
        capsys,
        "parse",
        "--json",
        str(EXAMPLES / "ghz5.qasm"),
        str(bad),
        str(tmp_path / "missing.qasm"),
    )
    assert code == 2
    ghz, enc, missing = (json.loads(line) for line in out.splitlines())
    assert ghz["file"].endswith("ghz5.qasm") and ghz["format"] == "qasm2"
    assert (
        ghz["num_qubits"],
        ghz["num_clbits"],
        ghz["num_ops"],
        ghz["num_measurements"],
        ghz["depth"],
    ) == (5, 5, 10, 5, 6)
    assert ghz["ops_by_name"] == {"cx": 4, "h": 1, "measure": 5}
    assert ghz["registers"] == [
        {"name": "q", "kind": "quantum", "size": 5},
        {"name": "c", "kind": "classical", "size": 5},
    ]
    assert enc["error"]["kind"] == "encoding" and (
        enc["error"]["line"],
        enc["error"]["column"],
    ) == (3, 3)
    assert missing["error"]["kind"] == "io"


def test_parse_exit_zero_and_emit(capsys):
    code, out, _ = run(capsys, "parse", "--json", "--emit", "qasm3", str(EXAMPLES / "qft4.qasm"))
    assert code == 0
    result = json.loads(out)
    assert result["qasm"].startswith("OPENQASM 3.0;")
    assert "cphase" not in result["qasm"]  # the custom gate was expanded


def test_parse_reads_stdin(capsys, monkeypatch):
    import io

    monkeypatch.setattr(
        sys,
        "stdin",
        io.TextIOWrapper(
            io.BytesIO(
                b'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nccx q[0], q[1], q[2];\n'
            )
        ),
    )
    code, out, _ = run(capsys, "parse", "--json", "-")
    assert code == 0 and json.loads(out)["ops_by_name"] == {"ccx": 1}


def test_parse_table_shows_the_error_with_a_caret(capsys):
    code, out, _ = run(
        capsys,
        "parse",
        str(EXAMPLES.parent / "invalid" / "broken_index.qasm"),
        str(EXAMPLES / "bell.qasm"),
    )
    assert code == 2
    assert "out-of-range" in out and "cx q[0],q[2];" in out
    assert "          ^" in out  # column 11
    assert "bell.qasm" in out


def test_parse_size_limit_from_environment(capsys, monkeypatch):
    monkeypatch.setenv("QORCH_LIMITS__MAX_QASM_BYTES", "20")
    code, out, _ = run(capsys, "parse", "--json", str(EXAMPLES / "bell.qasm"))
    assert code == 2 and json.loads(out)["error"]["kind"] == "limit"


def test_plugins_json_lists_defaults_with_distributions(capsys):
    code, out, _ = run(capsys, "plugins", "--json")
    assert code == 0
    data = json.loads(out)
    assert {i["name"]: i["distribution"] for i in data["kinds"]["parser"]} == {
        "qasm2": "qorch-core",
        "qasm3": "qorch-core",
        "qiskit": "qorch-core",
    }
    assert data["kinds"]["store"][0]["distribution"] == "qorch-sqlite"
    code, out, _ = run(capsys, "plugins")
    assert "qorch-sqlite" in out and "circuit parsers" in out


def test_config_show_json_toml_and_table(capsys, monkeypatch):
    monkeypatch.setenv("QORCH_LIMITS__MAX_QUBITS", "77")
    code, out, _ = run(capsys, "config", "show", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["limits"]["max_qubits"] == 77
    assert data["plugins"]["store"]["sqlite"]["journal_mode"] == "wal"
    code, out, _ = run(capsys, "config", "show", "--toml")
    assert code == 0 and "max_qubits = 77" in out and "[plugins.store.sqlite]" in out
    code, out, _ = run(capsys, "config", "show")
    assert code == 0 and "77" in out and "environment" in out


def test_bad_configuration_stops_every_command(capsys, monkeypatch):
    monkeypatch.setenv("QORCH_LIMITS__MAX_QUBITS", "many")
    code, out, err = run(capsys, "plugins")
    assert code == 2 and out == ""
    assert "limits.max_qubits = 'many' (from environment variable QORCH_LIMITS__MAX_QUBITS)" in err
    assert "Traceback" not in err


def test_client_variables_are_not_settings_for_any_command(capsys, monkeypatch, tmp_path):
    """Issue 15: with the walkthrough's ``QORCH_URL`` and ``QORCH_API_KEY`` exported,
    every command that reads settings still starts (``run``, ``up``, ``coordinator`` and
    ``node`` run with them in tests/test_docs_commands.py)."""
    from qorch.config import is_setting_variable

    monkeypatch.setenv("QORCH_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("QORCH_API_KEY", "not-a-setting")
    monkeypatch.chdir(tmp_path)
    data = str(tmp_path / "d")
    topology = str(REPO / "examples" / "topologies" / "four-heterogeneous.toml")
    ghz = str(EXAMPLES / "ghz5.qasm")
    for argv in (
        ["parse", ghz],
        ["compile", ghz, "--topology", topology],
        ["plugins"],
        ["config", "show"],
        ["keys", "list", "--data-dir", data],
        ["db", "status", "--data-dir", data],
    ):
        code, _, err = run(capsys, *argv)
        assert (code, err) == (0, ""), argv
    assert not is_setting_variable("QORCH_URL") and not is_setting_variable("QORCH_CONFIG")
    assert is_setting_variable("QORCH_API__AUTH_REQUIRED")
    monkeypatch.setenv("QORCH_LIMITS__MAX_QUBIT", "3")  # a typo of a setting still stops
    code, _, err = run(capsys, "plugins")
    assert code == 2 and "did you mean 'limits.max_qubits'" in err


def test_db_upgrade_status_downgrade(capsys, tmp_path):
    data = str(tmp_path / "d")
    code, out, _ = run(capsys, "db", "--data-dir", data, "status", "--json")
    migrations = ["001_initial", "002_quality_outcome", "003_job_plan", "004_api_keys"]
    assert json.loads(out) == {"applied": [], "pending": migrations, "current": False}
    code, out, _ = run(capsys, "db", "upgrade", "--data-dir", data, "--target", "001_initial")
    assert code == 0 and "001_initial" in out
    code, out, _ = run(capsys, "db", "status", "--data-dir", data)
    assert "applied: 001_initial" in out
    assert "pending: 002_quality_outcome, 003_job_plan, 004_api_keys" in out
    code, out, _ = run(capsys, "db", "upgrade", "--data-dir", data)
    assert code == 0 and "applied: 002_quality_outcome, 003_job_plan, 004_api_keys" in out
    assert (tmp_path / "d" / "qorch.sqlite3").is_file()
    code, out, _ = run(capsys, "db", "status", "--data-dir", data)
    assert "applied: 001_initial, 002_quality_outcome, 003_job_plan, 004_api_keys" in out
    assert "pending: none" in out
    code, out, _ = run(capsys, "db", "downgrade", "--data-dir", data, "--steps", "4")
    assert "rolled back: 004_api_keys, 003_job_plan, 002_quality_outcome, 001_initial" in out
    code, out, err = run(capsys, "db", "upgrade", "--target", "999_x", "--data-dir", data)
    assert code == 2 and "no migration named '999_x'" in err


def test_unexpected_errors_are_one_line(capsys, monkeypatch):
    import qorch.cli.plugins_cmd as cmd

    monkeypatch.setattr(cmd, "run", lambda args: 1 / 0)
    code, _, err = run(capsys, "plugins")
    assert code == 1 and err.startswith("internal error: ZeroDivisionError")


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["parse"])
    assert info.value.code == 2


def test_console_script_help_and_version():
    exe = REPO / ".venv" / "bin" / "qorch"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "qorch"]
    done = subprocess.run([*cmd, "--help"], capture_output=True, text=True, check=True)
    assert "parse" in done.stdout and "plugins" in done.stdout
    done = subprocess.run([*cmd, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("qorch ")
