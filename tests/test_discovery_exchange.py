"""Continuous discovery (FR-002, issue 17): a node that joins a running network through
another node — never through the coordinator — is listed by the coordinator's registry
within a refresh interval and a round trip (the peers a node's status reply names), over
every installed transport, with real node processes."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from qorch.config import NetworkSettings, Settings
from qorch.coordinator.discovery import Discovery
from qorch.coordinator.node_registry import NodeRegistry
from qorch.node.processes import NodeProcess
from qorch.node.protocol import REGISTRY_VERBS
from qorch.plugins import PluginSystem
from qorch.testing.transport_contract import trio_test
from qorch.transport import PeerConfig

REPO = Path(__file__).resolve().parents[1]
TOPOLOGY = REPO / "examples" / "topologies" / "small-world-10.toml"
REFRESH_S = 0.5
TRANSPORTS = PluginSystem().registry.names("transport")


def listed(registry: NodeRegistry) -> set[str]:
    return {e.node_id for e in registry.entries() if e.available}


async def wait_listed(registry: NodeRegistry, names: set[str], timeout: float) -> float:
    """Seconds until ``names`` are listed available (AssertionError after ``timeout``)."""
    start = trio.current_time()
    with trio.move_on_after(timeout):
        while not names <= listed(registry):
            await trio.sleep(0.05)
        return trio.current_time() - start
    raise AssertionError(f"{sorted(names - listed(registry))} not listed after {timeout} s")


async def join_through_a_node(transport_name: str, tmp_path: Path, wait_s: float) -> bool:
    """Start the coordinator side, node qpu0 bootstrapped to it, then qpu1 bootstrapped
    only to qpu0; whether qpu1 is listed within ``wait_s`` of its start."""
    network = NetworkSettings(transport=transport_name, advert_ttl_s=5.0, refresh_s=REFRESH_S)
    settings = Settings(network=network)
    registry = NodeRegistry(settings.network, settings.quality)
    discovery = Discovery(registry)
    transport = PluginSystem(settings).create("transport", transport_name)
    config = PeerConfig("coordinator", tmp_path / "c", network.listen, verbs=REGISTRY_VERBS)
    env = {
        "QORCH_NETWORK__TRANSPORT": transport_name,
        "QORCH_NETWORK__REFRESH_S": str(REFRESH_S),
        "QORCH_LOGGING__LEVEL": "WARNING",
    }
    topology = ["--topology", str(TOPOLOGY)]
    async with (
        transport.open(config, discovery, discovery.on_disconnect) as peer,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(discovery.run, peer, [])
        first = NodeProcess(
            "qpu0", tmp_path / "qpu0", [*topology, "--bootstrap", peer.addresses[0]], env
        )
        second = NodeProcess("qpu1", tmp_path / "qpu1", topology, env)
        try:
            await first.start()
            await wait_listed(registry, {"qpu0"}, 30)
            second.args += ["--bootstrap", first.address]  # only the first node's address
            await second.start()
            try:
                await wait_listed(registry, {"qpu1"}, wait_s)
            except AssertionError:
                return False
            assert registry.entry("qpu1").advert.peer_id == second.peer_id
            return True
        finally:
            await second.stop()
            await first.stop()
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("transport_name", TRANSPORTS)
@trio_test
async def test_a_node_joining_through_another_node_is_listed(transport_name, tmp_path):
    # probes run every refresh_s; then one round trip and one advert
    assert await join_through_a_node(transport_name, tmp_path, REFRESH_S + 5)


@trio_test
async def test_without_learning_from_probes_it_is_never_listed(tmp_path, monkeypatch):
    """Mutation: the one-shot crawl at join (discovery before issue 17) never hears of a
    node that joins later through another node."""
    monkeypatch.setattr(Discovery, "_new", lambda self, address: False)
    assert not await join_through_a_node(TRANSPORTS[0], tmp_path, REFRESH_S + 3)
