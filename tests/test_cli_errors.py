"""The command line's error boundary, its input checks and the data-directory lock
(issue 15): every mistake one sentence and exit 2, Ctrl-C ``interrupted`` and 130 with
no process left, a bug one line naming its traceback file, nothing created before the
inputs validate."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from qorch.cli import boundary
from qorch.cli.main import main
from qorch.errors import ConfigError, UsageError
from tests.conftest import REPO

EXE = REPO / ".venv" / "bin" / "qorch"
QORCH = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "qorch"]
TOPOLOGIES = REPO / "examples" / "topologies"
GHZ = str(REPO / "examples" / "circuits" / "ghz5.qasm")


def qorch(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QORCH, *argv], capture_output=True, text=True, timeout=timeout)


def one_sentence(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: "), done.stderr
    for text in expected:
        assert text in done.stderr


# -- the boundary itself ------------------------------------------------------------------


def test_exception_groups_are_unwrapped_to_the_users_mistake(capsys):
    group = BaseExceptionGroup("nursery", [ExceptionGroup("inner", [UsageError("port busy")])])
    assert boundary.report(group) == 2
    assert capsys.readouterr().err == "error: port busy\n"


def test_an_interrupt_anywhere_in_a_group_is_an_interruption(capsys):
    group = BaseExceptionGroup("nursery", [KeyboardInterrupt(), RuntimeError("teardown")])
    assert boundary.report(group) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_a_bug_is_one_line_naming_the_file_with_its_traceback(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    group = ExceptionGroup("nursery", [UsageError("fine"), ZeroDivisionError("boom")])
    assert boundary.report(group) == 1
    err = capsys.readouterr().err
    assert err.startswith("internal error: ZeroDivisionError: boom (traceback in ")
    path = Path(err.rsplit("(traceback in ", 1)[1].rstrip(")\n"))
    assert path.parent == tmp_path and "ZeroDivisionError: boom" in path.read_text()


def test_a_one_problem_config_error_is_one_line_not_one_per_character():
    assert ConfigError("no topology file x.toml").problems == ["no topology file x.toml"]


def test_run_trio_cancels_on_sigint_and_then_reports_an_interruption():
    cleaned = []

    async def work() -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            await trio.sleep_forever()
        finally:
            cleaned.append(True)  # a child would be stopped here

    with pytest.raises(KeyboardInterrupt):
        boundary.run_trio(work)
    assert cleaned == [True]


# -- inputs checked before anything starts ------------------------------------------------


def test_run_checks_strategy_topology_and_file_before_starting_a_cluster(capsys, monkeypatch):
    import qorch.coordinator.local_cluster as lc

    def must_not_start(*args, **kwargs):
        raise AssertionError("a cluster was started for a bad input")

    monkeypatch.setattr(lc, "local_cluster", must_not_start)
    topology = str(TOPOLOGIES / "noiseless-two-nodes.toml")
    cases = [
        (["run", GHZ, "--topology", topology, "--strategy", "gredy"], "no placement named"),
        (["run", "nope.qasm", "--topology", topology], "cannot read nope.qasm"),
        (["run", GHZ, "--topology", "nope.toml"], "cannot read nope.toml"),
    ]
    for argv, expected in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and expected in err, err


def test_shots_must_be_at_least_one(capsys):
    for command in ("run", "compile"):
        topology = str(TOPOLOGIES / "noiseless-two-nodes.toml")
        with pytest.raises(SystemExit) as info:
            main([command, GHZ, "--topology", topology, "--shots", "0"])
        assert info.value.code == 2
        assert "--shots: expected a whole number >= 1, got 0" in capsys.readouterr().err


def test_service_mistakes_are_sentences_and_create_nothing(tmp_path):
    data = tmp_path / "data"
    one_sentence(
        qorch("up", "--topology", str(tmp_path / "nope.toml"), "--data-dir", str(data)),
        "cannot read",
    )
    one_sentence(
        qorch("coordinator", "--bootstrap", "garbage", "--data-dir", str(data)),
        "--bootstrap: not a multiaddr",
        "'garbage'",
    )
    one_sentence(qorch("nodes"), "qorch nodes needs --bootstrap")
    assert not data.exists()


def test_a_port_in_use_is_named_with_the_fix(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = qorch("coordinator", "--port", str(port), "--data-dir", str(tmp_path / "d"))
    one_sentence(done, f"port {port} is in use: choose --port or stop the other coordinator")
    assert not (tmp_path / "d").exists()


# -- the data-directory lock --------------------------------------------------------------


def start_coordinator(data: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [*QORCH, "coordinator", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline()


def test_a_data_directory_serves_one_process_and_survives_its_sigkill(tmp_path):
    data = tmp_path / "data"
    first, ready = start_coordinator(data)
    try:
        assert '"ready"' in ready
        done = qorch("coordinator", "--port", "0", "--data-dir", str(data))
        one_sentence(done, f"data directory {data} is in use by pid {first.pid}")
    finally:
        first.kill()
        first.wait()
    again, ready = start_coordinator(data)  # SIGKILL left no stale lock
    again.terminate()
    again.wait(timeout=60)
    assert '"ready"' in ready


# -- Ctrl-C and the demo script leave nothing behind --------------------------------------


def _session_processes(sid: int) -> list[str]:
    found = subprocess.run(["pgrep", "-s", str(sid)], capture_output=True, text=True)
    return found.stdout.split()


def _wait_for_empty_session(sid: int) -> list[str]:
    for _ in range(100):  # bounded: child processes finish exiting
        left = _session_processes(sid)
        if not left:
            return []
        time.sleep(0.2)
    return left


def test_ctrl_c_during_run_prints_interrupted_exits_130_and_stops_every_child():
    proc = subprocess.Popen(
        [*QORCH, "run", GHZ, "--topology", str(TOPOLOGIES / "four-heterogeneous.toml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own session: the test's "terminal"
    )
    time.sleep(4)  # somewhere in start-up or the job; any moment must behave the same
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the job finished before the interrupt")
    assert (proc.returncode, err) == (130, "interrupted\n")
    assert _wait_for_empty_session(proc.pid) == []


@pytest.mark.skipif(not EXE.exists(), reason="needs the installed qorch command")
def test_the_demo_nodes_script_stops_every_node_it_starts():
    proc = subprocess.Popen(
        ["bash", str(REPO / "examples" / "demo-nodes.sh")],
        env={**os.environ, "QORCH": str(EXE)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # every process it starts stays in this session
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "three nodes up" in out
    assert _wait_for_empty_session(proc.pid) == []
