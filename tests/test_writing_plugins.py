"""The cost model printed in docs/writing-plugins.md, installed as a real pack (FR-004)."""

from __future__ import annotations

import importlib
import math
import re
import sys

import pytest

from qorch.circuits import qft, uniform
from qorch.compile.compiler import compile_circuit
from qorch.config import Settings
from qorch.errors import ConfigError
from qorch.plugins import PluginSystem
from qorch.testing.plan_checks import plan_problems
from tests.conftest import REPO

DOC = (REPO / "docs" / "writing-plugins.md").read_text()


def doc_code() -> str:
    section = DOC.split("## A cost model in 20 lines", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def pack(tmp_path, monkeypatch):
    root = tmp_path / "site"
    (root / "qorch_riskaverse").mkdir(parents=True)
    (root / "qorch_riskaverse" / "__init__.py").write_text("")
    (root / "qorch_riskaverse" / "plugin.py").write_text(doc_code())
    info = root / "qorch_riskaverse-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: qorch-riskaverse\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text("[qorch]\nriskaverse = qorch_riskaverse.plugin\n")
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    yield
    for name in [m for m in sys.modules if m.startswith("qorch_riskaverse")]:
        del sys.modules[name]


def test_the_documented_model_is_about_twenty_lines():
    lines = [line for line in doc_code().splitlines() if line.strip()]
    assert len(lines) <= 25


def test_the_documented_model_loads_from_its_pack_and_compiles(pack):
    plugins = PluginSystem()
    impl = plugins.get("cost_model", "risk-averse")
    assert impl.distribution == "qorch-riskaverse"
    topology = uniform(3, 4)
    plan = compile_circuit(qft(6), topology, plugins=plugins, cost_model="risk-averse")
    assert plan_problems(plan, topology) == []
    fidelity = 1.0 - plan.cost["fidelity_risk"]  # the term the cost model was given
    assert fidelity > 0.5  # above the floor: the log penalty applies
    expected = 2.0 * plan.ebits - 10.0 * math.log(fidelity)
    assert plan.cost["total"] == pytest.approx(expected)


def test_its_options_are_checked_at_start_up(pack):
    settings = Settings(plugin_options={"cost_model": {"risk-averse": {"ebit_price": "cheap"}}})
    with pytest.raises(ConfigError) as info:
        PluginSystem(settings).check_config()
    assert info.value.problems == [
        "plugins.cost_model.risk-averse.ebit_price = 'cheap': expected a number"
    ]


def test_its_options_have_an_environment_spelling_a_shell_can_export(pack, monkeypatch):
    from qorch.config import load_settings

    name = "QORCH_PLUGINS__COST_MODEL__RISK_AVERSE__EBIT_PRICE"
    assert name.replace("_", "").isalnum()  # exportable: letters, digits, underscores
    monkeypatch.setenv(name, "7.5")
    plugins = PluginSystem(load_settings())
    plugins.check_config()
    assert plugins.options("cost_model", "risk-averse").ebit_price == 7.5
    monkeypatch.setenv(name, '"cheap"')
    with pytest.raises(ConfigError) as info:
        PluginSystem(load_settings()).check_config()
    assert info.value.problems == [
        "plugins.cost_model.risk-averse.ebit_price = 'cheap': expected a number"
    ]


def install_pack(root, package: str, dist: str, entry: str, code: str) -> None:
    """Write ``code`` as ``package/plugin.py`` of distribution ``dist`` under ``root``."""
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    (root / package / "plugin.py").write_text(code)
    info = root / f"{package}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[qorch]\n{entry} = {package}.plugin\n")


def test_the_documented_node_type_runs_fragments_in_a_node_service(tmp_path, monkeypatch):
    """The node type printed in docs/writing-plugins.md, installed as a pack: a node
    service executes on it, and a distant cz costs fidelity as documented."""
    import time

    import trio

    from qorch.node.service import NodeService

    section = DOC.split("## A node type", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    root = tmp_path / "site"
    install_pack(root, "qorch_atoms", "qorch-atoms", "atoms", code)
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    try:
        plugins = PluginSystem()
        assert plugins.get("node_type", "neutral-atom").distribution == "qorch-atoms"
        node_type = plugins.create("node_type", "neutral-atom")
        svc = NodeService(node_type.describe("atoms-1"), node_type)

        async def run(ops, fragment):
            corr = {"job_id": "j", "fragment_id": fragment, "attempt": 0, "request_id": "r"}
            window = {"correlation": corr, "operation": "fragment", "qubits": 2,
                      "start": time.time(), "duration_s": 10.0,
                      "min_fidelity": 0.0}  # fmt: skip
            granted = await svc("reserve", window, "peer")
            rid = granted["reservation"]["reservation_id"]
            body = {"correlation": corr, "reservation_id": rid, "ops": ops}
            return (await svc("execute", body, "peer"))["record"]

        near = trio.run(run, [{"name": "cz", "qubits": [0, 1]}], "near")
        far = trio.run(run, [{"name": "cz", "qubits": [0, 11]}], "far")
        assert near["status"] == far["status"] == "ok"
        assert near["fidelity"] == pytest.approx(0.995)
        assert far["fidelity"] == pytest.approx(0.995 - 0.002 * 10)
        bad = trio.run(run, [{"name": "cx", "qubits": [0, 1]}], "bad")
        assert bad["status"] == "failed" and "not offered" in bad["error"]
    finally:
        for name in [m for m in sys.modules if m.startswith("qorch_atoms")]:
            del sys.modules[name]
