"""``qorch node`` as a user runs it (FR-001): a settings file, a restart, clean signals,
and clear errors for a node that is not described well enough."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOPOLOGY = REPO / "examples" / "topologies" / "two-nodes.toml"


def start(args: list[str], tmp: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "qorch", "node", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp,
        env={**os.environ, "QORCH_LOGGING__LEVEL": "WARNING"},
    )
    line = proc.stdout.readline()  # the process prints it once it serves (bounded below)
    return proc, line


def stop(proc: subprocess.Popen, sig: int) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=20)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_node_from_a_settings_file_keeps_its_peer_id_and_stops_cleanly(tmp_path, sig):
    config = tmp_path / "node.toml"
    config.write_text(
        '[node]\nname = "ion-1"\nnode_type = "trapped-ion"\nqubits = 5\n'
        '[network]\nlisten = "/ip4/127.0.0.1/tcp/0"\n'
    )
    args = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    first, line = start(args, tmp_path)
    assert line.startswith("ready /ip4/127.0.0.1/tcp/") and "/p2p/" in line, line
    assert stop(first, sig) == 0
    again, line2 = start(args, tmp_path)
    assert line2.split("/p2p/")[1] == line.split("/p2p/")[1]
    assert stop(again, sig) == 0
    assert (tmp_path / "data" / "identity").is_dir()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--topology", str(TOPOLOGY)], "--topology needs --name, one of: "),
        (["--topology", str(TOPOLOGY), "--name", "nope"], "no node 'nope' in"),
        (["--name", "x", "--listen", "not-an-address"], "not a multiaddr"),
    ],
)
def test_bad_node_descriptions_are_clear_errors(tmp_path, args, message):
    done = subprocess.run(
        [sys.executable, "-m", "qorch", "node", "--data-dir", str(tmp_path / "d"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_an_unknown_node_type_lists_the_known_ones(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "qorch", "node", "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "QORCH_NODE__NODE_TYPE": "photonic"},
    )
    assert done.returncode == 2
    assert "no node_type named 'photonic'; available: simulated" in done.stderr
