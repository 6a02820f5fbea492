"""Every installed transport against the transport contract (DESIGN §8, §9)."""

from __future__ import annotations

import pytest

from qorch.plugins import PluginSystem
from qorch.testing.transport_contract import TransportContract

_plugins = PluginSystem()


@pytest.fixture(params=_plugins.registry.names("transport"))
def transport(request):
    return _plugins.create("transport", request.param)


class TestEveryTransport(TransportContract):
    pass


def test_both_transports_are_installed():
    assert {"libp2p", "tcp"} <= set(_plugins.registry.names("transport"))
