"""Every installed placement strategy and cost model against the compile contracts (FR-004)."""

from __future__ import annotations

import pytest

from qorch.plugins import PluginSystem
from qorch.testing.compile_contract import CostModelContract, StrategyContract

_plugins = PluginSystem()


@pytest.fixture(scope="module")
def plugins():
    return _plugins


@pytest.fixture(params=_plugins.registry.names("placement"))
def strategy(request):
    return request.param


@pytest.fixture(params=_plugins.registry.names("cost_model"))
def cost_model(request):
    return request.param


class TestEveryStrategy(StrategyContract):
    pass


class TestEveryCostModel(CostModelContract):
    pass


def test_the_built_in_implementations_are_installed():
    assert {"greedy", "partition", "teleport"} <= set(_plugins.registry.names("placement"))
    assert {"weighted", "fidelity-only", "makespan"} <= set(_plugins.registry.names("cost_model"))
