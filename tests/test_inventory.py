"""The ``centralized`` orchestration's hub and its static inventory (issue 17, DESIGN §9):
nodes known from the topology file and their addresses only, their state learnt by
polling ``status`` — over a real libp2p transport on 127.0.0.1."""

from __future__ import annotations

import contextlib

import pytest
import trio

from qorch.builtin.default_node_type import Simulated
from qorch.circuits import uniform
from qorch.config import NetworkSettings, RuntimeSettings, Settings
from qorch.coordinator.discovery import Discovery
from qorch.coordinator.inventory import StaticInventory, inventory_of
from qorch.coordinator.local_cluster import coordinator_peer
from qorch.coordinator.node_registry import NodeRegistry
from qorch.node.protocol import NODE_VERBS
from qorch.node.service import NodeService
from qorch.plugins import PluginSystem
from qorch.topology import load_addresses
from qorch.transport import PeerConfig
from tests.test_cli_errors import TOPOLOGIES, one_sentence, qorch

NETWORK = NetworkSettings(refresh_s=0.3, advert_ttl_s=5.0, request_timeout_s=2.0)
HUB = PluginSystem(Settings(network=NETWORK, runtime=RuntimeSettings(orchestration="centralized")))


@contextlib.asynccontextmanager
async def node_peers(topology, tmp_path):
    """Each node of ``topology`` served by a :class:`NodeService` on its own libp2p peer;
    yields (services, peers) by name. Nobody is bootstrapped: no node announces."""
    transport = HUB.create("transport")
    services = {n.name: NodeService(n, Simulated()) for n in topology.nodes}
    async with contextlib.AsyncExitStack() as stack:
        peers = {}
        for name, service in services.items():
            config = PeerConfig(name, tmp_path / name, "/ip4/127.0.0.1/tcp/0", verbs=NODE_VERBS)
            peers[name] = await stack.enter_async_context(transport.open(config, service))
        yield services, peers


async def until(predicate, timeout=20.0):
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.02)


def test_the_hub_lists_its_inventory_and_learns_a_degradation_only_by_polling(tmp_path):
    topology = uniform(3, 4)

    async def main():
        async with node_peers(topology, tmp_path) as (services, peers):
            registry = NodeRegistry(NETWORK, HUB.settings.quality)
            inventory = StaticInventory(registry)
            located = {n: p.addresses[0] for n, p in peers.items() if n != "n2"}
            async with coordinator_peer(HUB, tmp_path / "hub", [], inventory=inventory):
                for entry in inventory_of(topology, located):
                    inventory.add(entry)
                await until(lambda: sum(e.available for e in registry.entries()) == 2)
                # the inventory is what it lists: n2 has no address, so it is not there
                assert sorted(e.node_id for e in registry.entries()) == ["n0", "n1"]
                services["n0"].degrade(0.5)
                polls = inventory.polls
                assert registry.entry("n0").advert.fidelity_scale == 1.0  # not known yet
                await until(lambda: registry.entry("n0").advert.fidelity_scale == 0.5)
                assert inventory.polls > polls  # learnt from a poll, not an advert
                assert services["n0"].subscribers == set()  # nobody asked for adverts

    trio.run(main)


def test_a_node_that_stops_answering_is_listed_unavailable_at_the_next_poll(tmp_path):
    topology = uniform(2, 4)

    async def main():
        registry = NodeRegistry(NETWORK, HUB.settings.quality)
        inventory = StaticInventory(registry)
        async with coordinator_peer(HUB, tmp_path / "hub", [], inventory=inventory):
            async with node_peers(topology, tmp_path) as (_services, peers):
                for entry in inventory_of(topology, {n: p.addresses[0] for n, p in peers.items()}):
                    inventory.add(entry)
                await until(lambda: sum(e.available for e in registry.entries()) == 2)
            # both nodes' peers are closed now
            await until(lambda: not any(e.available for e in registry.entries()))

    trio.run(main)


def test_a_hub_with_a_static_inventory_refuses_adverts():
    registry = NodeRegistry(NETWORK, HUB.settings.quality)
    hub = Discovery(registry, static=True)
    advert = {"node_id": "rogue", "peer_id": "p"}
    reply = trio.run(hub, "announce", advert, "p")
    assert reply["ok"] is False and reply["error"]["reason"] == "static"
    assert registry.entries() == []
    # the same advert reaches an advert-driven registry's validation (and fails there)
    open_reply = trio.run(Discovery(registry), "announce", advert, "p")
    assert open_reply["error"]["reason"] != "static"


def test_topology_addresses_are_the_inventory(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(
        (TOPOLOGIES / "four-heterogeneous.toml").read_text()
        .replace('name = "', 'address = "/ip4/127.0.0.1/tcp/1/p2p/QmX"\nname = "', 1)
    )  # fmt: skip
    assert list(load_addresses(path).values()) == ["/ip4/127.0.0.1/tcp/1/p2p/QmX"]


@pytest.mark.parametrize(
    ("orchestration", "argv", "expected"),
    [
        ("distributed", ["--inventory", "x.toml"], "only an orchestration with a static"),
        ("centralized", [], "give --inventory T"),
    ],
)
def test_the_coordinator_command_checks_its_inventory(
    orchestration, argv, expected, tmp_path, monkeypatch
):
    monkeypatch.setenv("QORCH_RUNTIME__ORCHESTRATION", orchestration)
    done = qorch("coordinator", "--data-dir", str(tmp_path / "d"), *argv, timeout=60)
    one_sentence(done, expected)
    assert not (tmp_path / "d").exists()


def test_an_inventory_entry_keeps_the_links_of_its_node():
    topology = uniform(3, 4)
    entries = inventory_of(topology, {"n0": "a", "n2": "c"})
    assert [e.spec.name for e in entries] == ["n0", "n2"]
    assert sorted(link.node_id for link in entries[0].links) == ["n1", "n2"]
    assert entries[0].address == "a" and entries[1].address == "c"
