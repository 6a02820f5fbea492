"""An embedded local cluster (FR-002, FR-006): one node process per topology node and a
coordinator peer that discovers them, in this process.

``qorch run`` uses it to run a job end to end on a fresh machine; the coordinator
service opens its own peer with :func:`coordinator_peer`. Calls to nodes go through
:class:`~qorch.coordinator.peer_client.PeerClient`.
"""

from __future__ import annotations

import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from qorch.coordinator.discovery import Discovery
from qorch.coordinator.inventory import StaticInventory, inventory_of, offered
from qorch.coordinator.node_registry import NodeRegistry
from qorch.coordinator.peer_client import PeerClient
from qorch.faults import FaultSchedule
from qorch.interfaces import Peer, Plugins
from qorch.node.processes import NodeProcess, apply_drops
from qorch.node.protocol import REGISTRY_VERBS
from qorch.topology import load_topology
from qorch.transport import PeerConfig

START_TIMEOUT_S = 90.0


@asynccontextmanager
async def coordinator_peer(
    plugins: Plugins,
    data_dir: Path,
    bootstrap: list[str],
    listen: str = "/ip4/127.0.0.1/tcp/0",
    registry: NodeRegistry | None = None,
    inventory: StaticInventory | None = None,
) -> AsyncIterator[tuple[NodeRegistry, PeerClient, Peer]]:
    """The coordinator's peer feeding ``registry`` (a new one by default): discovery
    through ``bootstrap``, every advert announced to the ``qorch_on_advert`` hooks — or,
    when the orchestration's ``discovery`` is ``static`` (``centralized``), the polls of
    its static ``inventory`` (issue 17), adverts refused."""
    settings = plugins.settings
    if registry is None:
        registry = NodeRegistry(settings.network, settings.quality)
    static = plugins.create("orchestration").discovery == "static"

    def announce(**event: Any) -> None:
        plugins.notify("qorch_on_advert", **event)

    # probes keep quality current: a degraded node recovers
    discovery = Discovery(registry, on_advert=announce, static=static, probe=not static)
    transport = plugins.create("transport")
    config = PeerConfig(
        "coordinator",
        data_dir / "coordinator",
        listen,
        settings.network.max_message_bytes,
        REGISTRY_VERBS,
    )
    async with (
        transport.open(config, discovery, discovery.on_disconnect) as peer,
        trio.open_nursery() as nursery,
    ):
        if static:
            inventory = inventory or StaticInventory(registry)
            nursery.start_soon(inventory.run, peer)
        else:
            nursery.start_soon(discovery.run, peer, bootstrap)
        yield registry, PeerClient(peer, registry), peer
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def local_cluster(
    topology_path: Path,
    plugins: Plugins,
    data_dir: Path,
    registry: NodeRegistry | None = None,
    faults: FaultSchedule | None = None,
) -> AsyncIterator[tuple[NodeRegistry, PeerClient]]:
    """Start the nodes of ``topology_path`` and yield once every one is available.

    They join the coordinator by bootstrapping to it and advertising — or, under an
    orchestration with a static inventory (``centralized``), they join nobody: the hub's
    inventory is the topology with the addresses they print (issue 17).

    With a fault schedule (FR-013) it starts at that moment: the nodes (started with
    ``--faults``) are told its epoch by SIGHUP, and its node drops are played on them
    while the caller runs (:func:`~qorch.node.processes.apply_drops`).
    """
    settings = plugins.settings
    topology = load_topology(topology_path)
    names = [n.name for n in topology.nodes]
    inventory = None
    if plugins.create("orchestration").discovery == "static":
        inventory = StaticInventory(registry or NodeRegistry(settings.network, settings.quality))
        registry = inventory.registry
    env = {
        "QORCH_NETWORK__TRANSPORT": settings.network.transport,
        "QORCH_LOGGING__LEVEL": "WARNING",
    }
    nodes: list[NodeProcess] = []
    try:
        async with (
            coordinator_peer(plugins, data_dir, [], registry=registry, inventory=inventory) as (
                registry,
                client,
                peer,
            ),
            trio.open_nursery() as background,
        ):
            args = ["--topology", str(topology_path)]
            if inventory is None:
                args += ["--bootstrap", peer.addresses[0]]
            if faults is not None:
                path = data_dir / "faults.json"
                attrs.evolve(faults, epoch=None).write(path)  # nothing happens yet
                args += ["--faults", str(path)]
            nodes.extend(NodeProcess(n, data_dir / "nodes" / n, args, env) for n in names)
            async with trio.open_nursery() as starting:
                for node in nodes:
                    starting.start_soon(node.start)
            if inventory is not None:
                located = {n.name: n.address for n in nodes}
                for entry in inventory_of(offered(plugins, topology), located):
                    inventory.add(entry)
            with trio.fail_after(START_TIMEOUT_S):
                while {e.node_id for e in registry.entries() if e.available} != set(names):
                    await trio.sleep(0.02)
            if faults is not None:
                schedule = faults.starting_at(time.time())
                schedule.write(path)
                for node in nodes:
                    node.send_signal(signal.SIGHUP)
                background.start_soon(apply_drops, schedule, {n.name: n for n in nodes})
            yield registry, client
            background.cancel_scope.cancel()
    finally:  # the coordinator has left: the nodes see one clean disconnect each
        with trio.CancelScope(shield=True):
            for node in nodes:
                await node.stop()
