"""The static inventory of the ``centralized`` orchestration's hub (issue 17, DESIGN §9).

The hub knows its nodes from the topology file alone — names, addresses (``[[nodes]]
address``), capacity, gates and fidelities, links — and never from adverts: no node
announces itself to it and nothing is discovered. It learns the nodes' state only by
polling: every ``[network] refresh_s`` it calls each node's ``status``. A node that
answers is listed available with the fidelity its status reports (a degradation becomes
known at the next poll, not before); one that does not is listed unavailable until it
answers again. Each poll's round trip and outcome are quality samples (FR-008), as the
advert-driven registry's probes are.

The entries it keeps are ordinary registry entries (:class:`NodeRegistry`), made from
the inventory's specs, so the compiler, the API and ``qorch nodes`` see the hub's nodes
the way they see advertised ones.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import attrs
import trio
from loguru import logger

from qorch.coordinator.node_registry import NodeRegistry
from qorch.interfaces import Peer, Plugins
from qorch.node.advert import AdvertError, LinkQuality, advert_for
from qorch.node.service import degraded
from qorch.node.serving import node_type_for
from qorch.topology import NodeSpec, Topology, load_addresses, load_topology
from qorch.transport import TransportError


@attrs.frozen
class InventoryEntry:
    """One node of the inventory: what the topology file says, and where it is."""

    spec: NodeSpec
    address: str
    links: tuple[LinkQuality, ...] = ()


def offered(plugins: Plugins, topology: Topology) -> Topology:
    """``topology`` with every node as its node type offers it (presets, coherence:
    :func:`~qorch.node.serving.node_type_for`), as the node itself would advertise it."""
    return Topology([node_type_for(plugins, s)[1] for s in topology.nodes], topology.links)


def static_inventory(plugins: Plugins, registry: NodeRegistry, path: Path) -> StaticInventory:
    """The inventory of topology file ``path`` (its nodes that have an ``address``)."""
    inventory = StaticInventory(registry)
    for entry in inventory_of(offered(plugins, load_topology(path)), load_addresses(path)):
        inventory.add(entry)
    return inventory


def inventory_of(topology: Topology, addresses: dict[str, str]) -> list[InventoryEntry]:
    """The entries of the nodes of ``topology`` that ``addresses`` locates."""
    out = []
    for spec in topology.nodes:
        if spec.name not in addresses:
            continue
        links = tuple(
            LinkQuality(link.b if link.a == spec.name else link.a, link.fidelity, link.latency_ms)
            for link in topology.links
            if spec.name in (link.a, link.b)
        )
        out.append(InventoryEntry(spec, addresses[spec.name], links))
    return out


class StaticInventory:
    """Polls the inventory's nodes into ``registry`` (see the module docstring)."""

    def __init__(self, registry: NodeRegistry) -> None:
        self.registry = registry
        self.entries: dict[str, InventoryEntry] = {}
        self.peer_ids: dict[str, str] = {}  # node name -> the peer id its address names
        self.polls = 0  # status calls made (the hub's own messages)
        self._sequence = 0
        self._peer: Peer | None = None
        self._added = trio.Event()

    def add(self, entry: InventoryEntry) -> None:
        """Take ``entry`` into the inventory; it is polled at once."""
        self.entries[entry.spec.name] = entry
        self._added.set()

    async def run(self, peer: Peer) -> None:
        """Poll every entry now, then every refresh interval and whenever one is added."""
        self._peer = peer
        refresh = self.registry.network.refresh_s
        while True:
            self._added = trio.Event()
            async with trio.open_nursery() as nursery:
                for entry in list(self.entries.values()):
                    nursery.start_soon(self._poll, entry)
            with trio.move_on_after(refresh):
                await self._added.wait()

    async def _poll(self, entry: InventoryEntry) -> None:
        assert self._peer is not None
        name = entry.spec.name
        timeout = self.registry.network.request_timeout_s
        self.polls += 1
        start = trio.current_time()
        try:
            if name not in self.peer_ids:  # the dial is not part of the round trip
                with trio.fail_after(timeout):
                    self.peer_ids[name] = await self._peer.dial(entry.address)
                start = trio.current_time()
            peer_id = self.peer_ids[name]
            reply = await self._peer.call(peer_id, "status", {}, timeout=timeout)
        except (TransportError, trio.TooSlowError) as exc:
            logger.debug("inventory: {} did not answer its status poll: {}", name, exc)
            if name in self.peer_ids:
                self.registry.disconnected(self.peer_ids[name])
            self.registry.record_call(name, (trio.current_time() - start) * 1000, False)
            return
        ok = bool(reply.get("ok"))
        if ok:
            self._list(entry, peer_id, float(reply.get("fidelity_scale", 1.0)))
        self.registry.record_call(name, (trio.current_time() - start) * 1000, ok)

    def _list(self, entry: InventoryEntry, peer_id: str, scale: float) -> None:
        """List the node as the inventory describes it, degraded as its status says."""
        self._sequence = max(self._sequence + 1, int(time.time() * 1000))
        advert = advert_for(
            degraded(entry.spec, scale),
            peer_id=peer_id,
            timestamp=time.time(),
            sequence=self._sequence,
            ttl_s=self.registry.network.advert_ttl_s,
            addresses=(entry.address,),
            links=entry.links,
        )
        try:
            self.registry.offer(json.dumps(advert.to_dict()).encode(), peer_id)
        except AdvertError as exc:  # the inventory itself is wrong (a duplicate address)
            logger.warning("inventory: {} not listed: {}", entry.spec.name, exc)
