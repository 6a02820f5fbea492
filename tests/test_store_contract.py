"""Every installed store, and the memory double, against the store contract (FR-010)."""

from __future__ import annotations

import pytest

from qorch.plugins import PluginSystem
from qorch.testing.memory_store import MemoryStore
from qorch.testing.store_contract import StoreContract

_installed = PluginSystem().registry.of_kind("store")


@pytest.fixture(params=[i.name for i in _installed] + ["memory-double"])
def store_name(request):
    return request.param


class TestEveryStore(StoreContract):
    @pytest.fixture
    def make_store(self, store_name, tmp_path):
        plugins = PluginSystem()
        made = []

        def make():
            if store_name == "memory-double":
                s = MemoryStore()
            else:
                s = plugins.create("store", store_name, data_dir=tmp_path)
            s.open()
            made.append(s)
            return s

        yield make
        for s in made:
            s.close()


def test_the_default_store_is_installed():
    assert "sqlite" in [i.name for i in _installed]
