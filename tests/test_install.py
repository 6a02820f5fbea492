"""One install gives a working tool (issue 21 item 5, decision 0016; FR-011).

The kernel alone (``qorch-core``, the repository's root) still answers ``qorch plugins``
and ``qorch config show`` when a selected default is not installed, naming it and the
distribution that provides it; ``make dist`` writes a wheel of every distribution, and
``pip install qorch`` from those wheels, in a fresh virtualenv with no source tree on
the path, gives a tool that runs a circuit end to end.

The slow test installs third-party wheels from a local wheelhouse
(``$QORCH_WHEELHOUSE``, default ``~/.cache/qorch/wheelhouse``) filled once by
``pip wheel`` (a wheel built for a package the registry has only as source) from the
package registry and reused by every later run (offline when
it is complete).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from qorch.cli.main import main
from qorch.config import PluginsSettings, Settings
from qorch.errors import ConfigError
from qorch.plugins import PluginSystem
from tests.conftest import REPO

WHEELHOUSE = Path(
    os.environ.get("QORCH_WHEELHOUSE") or Path.home() / ".cache" / "qorch" / "wheelhouse"
)
#: every distribution of the repository: its directory (decision 0016)
DISTRIBUTIONS = [
    REPO,
    *sorted(p.parent for p in (REPO / "plugins").glob("*/pyproject.toml")),
    *sorted(p.parent for p in (REPO / "contrib").glob("*/pyproject.toml")),
    REPO / "packaging" / "qorch",
]
WITHOUT_DEFAULTS = Settings(plugins=PluginsSettings(blocked=["libp2p", "sqlite"]))


def test_the_kernel_alone_names_each_missing_default_and_its_distribution():
    plugins = PluginSystem(WITHOUT_DEFAULTS)
    missing = {(m["kind"], m["name"]): m for m in plugins.missing()}
    assert missing[("transport", "libp2p")]["distribution"] == "qorch-libp2p"
    assert missing[("transport", "libp2p")]["setting"] == "network.transport"
    assert missing[("store", "sqlite")]["distribution"] == "qorch-sqlite"
    assert len(missing) == 2  # everything else is in the kernel
    with pytest.raises(ConfigError) as info:
        plugins.check_config()  # a command that needs them still refuses to start
    assert "pip install qorch-libp2p" in str(info.value)
    assert "pip install qorch-sqlite" in str(info.value)
    plugins.check_config(allow_missing=True)
    assert PluginSystem().missing() == []  # the development install has every default


def test_plugins_and_config_show_work_without_the_defaults_and_run_does_not(capsys, monkeypatch):
    monkeypatch.setenv("QORCH_PLUGINS__BLOCKED", '["libp2p", "sqlite"]')
    assert main(["plugins", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {m["distribution"] for m in listed["missing"]} == {"qorch-libp2p", "qorch-sqlite"}
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "missing: network.transport selects the transport 'libp2p'" in out
    assert "pip install qorch-sqlite" in out
    assert main(["config", "show", "--json"]) == 0
    shown = capsys.readouterr()
    assert json.loads(shown.out)["network"]["transport"] == "libp2p"
    assert "qorch-libp2p" in shown.err and "qorch-sqlite" in shown.err
    bell = str(REPO / "examples" / "circuits" / "bell.qasm")
    topology = str(REPO / "examples" / "topologies" / "noiseless-two-nodes.toml")
    assert main(["run", bell, "--topology", topology]) == 2
    assert "pip install qorch-libp2p" in capsys.readouterr().err


def third_party_requirements() -> list[str]:
    """What the distributions need from the registry, and their build backend."""
    needs = set()
    for directory in DISTRIBUTIONS:
        project = tomllib.loads((directory / "pyproject.toml").read_text())
        needs.update(project["build-system"]["requires"])
        needs.update(d for d in project["project"].get("dependencies", []) if "qorch" not in d)
    return sorted(needs)


def pip(python: Path | str, *args: str, cwd: Path | None = None) -> None:
    """Run pip quietly; fail the test with its output."""
    command = [str(python), "-m", "pip", "--disable-pip-version-check", *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def fill_wheelhouse() -> None:
    """Every third-party wheel in :data:`WHEELHOUSE`: checked offline first, fetched from
    the registry only when something is missing."""
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    constraints = ["-c", str(REPO / "constraints.txt")]
    wanted = ["wheel", "-q", "-w", str(WHEELHOUSE), *constraints, *third_party_requirements()]
    offline = subprocess.run(
        [sys.executable, "-m", "pip", *wanted, "--no-index", "--find-links", str(WHEELHOUSE)],
        capture_output=True,
        timeout=600,
    )
    if offline.returncode != 0:
        pip(sys.executable, *wanted)


def fresh_venv(path: Path) -> Path:
    """A new virtualenv (its own pip, no system site-packages); its python."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    return path / "bin" / "python"


def clean_env() -> dict[str, str]:
    """The environment without qorch settings and without a source tree on the path."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("QORCH_", "PYTHONPATH"))}


@pytest.mark.slow
def test_pip_install_of_the_root_then_the_wheels_of_make_dist_give_working_tools(tmp_path):
    fill_wheelhouse()
    offline = ["--no-index", "--find-links", str(WHEELHOUSE), "--no-compile", "-q"]

    # the root alone: the kernel, on which `qorch plugins` answers and names what is missing
    kernel = fresh_venv(tmp_path / "kernel")
    pip(kernel, "install", *offline, str(REPO), cwd=tmp_path)
    shown = subprocess.run(
        [str(kernel.with_name("qorch")), "plugins"],
        capture_output=True, text=True, cwd=tmp_path, env=clean_env(), timeout=300,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "pip install qorch-libp2p" in shown.stdout and "pip install qorch-sqlite" in shown.stdout

    # `make dist`: one wheel per distribution
    dist = tmp_path / "dist"
    made = subprocess.run(
        ["make", "-C", str(REPO), "dist", f"DIST={dist}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    names = {
        tomllib.loads((d / "pyproject.toml").read_text())["project"]["name"].replace("-", "_")
        for d in DISTRIBUTIONS
    }
    assert {w.name.split("-")[0] for w in dist.glob("*.whl")} == names

    # `pip install qorch` from those wheels: the kernel and its default plugins
    tool = fresh_venv(tmp_path / "tool")
    pip(tool, "install", *offline, "--find-links", str(dist), "qorch", cwd=tmp_path)
    where = subprocess.run(
        [str(tool), "-c", "import qorch, qorch_libp2p; print(qorch.__file__)"],
        capture_output=True, text=True, cwd=tmp_path, env=clean_env(), timeout=120,
    )  # fmt: skip
    assert where.stdout.startswith(str(tmp_path / "tool")), where.stdout + where.stderr
    ghz = REPO / "examples" / "circuits" / "ghz5.qasm"
    topology = REPO / "examples" / "topologies" / "two-nodes.toml"
    ran = subprocess.run(
        [str(tool.with_name("qorch")), "run", str(ghz), "--topology", str(topology), "--json"],
        capture_output=True, text=True, cwd=tmp_path, env=clean_env(), timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    result = json.loads(ran.stdout.splitlines()[-1])
    assert sum(result["counts"].values()) == result["shots"] > 0
