"""Discovery (FR-002, FR-008): a peer that collects adverts into a :class:`NodeRegistry`.

The coordinator runs one; so does ``qorch nodes`` as an observer. It serves
``announce`` (an advert: validated into the registry, the rejection reason sent back),
``report`` (a fidelity report) and ``subscribe`` (another observer asks for the nodes
it knows: the reply lists their addresses). It joins the network through bootstrap
addresses — a node or another registry — by subscribing there (retrying with backoff
until it answers) and then to every peer the replies name (a bounded crawl), so that
nodes announce to it directly. It measures
every node itself: a ``status`` call each refresh interval, its round trip and success
recorded as quality samples (FR-008). Discovery is continuous (issue 17): a node's
``status`` reply names the peers it knows, and any address not seen before is
subscribed to (a few tries: an address learnt from a peer may be stale), so a node that
joins the running network through another node, not through the coordinator, is listed
within a refresh interval and a round trip — with no message beyond the probes. A lost
connection marks the peer's nodes unavailable at once; silence marks them unavailable
after their TTL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import trio
from loguru import logger

from qorch.coordinator.node_registry import NodeRegistry
from qorch.interfaces import Peer
from qorch.node import protocol
from qorch.node.advert import AdvertError
from qorch.transport import TransportError

MAX_CRAWL = 1024
#: tries to subscribe at an address a peer named (a bootstrap address is tried forever)
LEARNT_TRIES = 3
#: a learnt address that did not answer is not tried again for this long (libp2p blocks
#: a peer whose dial failed for a minute anyway)
LEARNT_COOLDOWN_S = 60.0


class Discovery:
    """The registry's network side (see the module docstring)."""

    def __init__(
        self,
        registry: NodeRegistry,
        *,
        probe: bool = True,
        on_advert: Callable[..., None] | None = None,
        static: bool = False,
    ) -> None:
        self.registry = registry
        self.probe = probe
        #: a hub with a static inventory (issue 17): it takes no adverts
        self.static = static
        #: ``on_advert(node_id=, accepted=, reason=, advert=)`` for every advert received
        self.on_advert = on_advert
        self.peer: Peer | None = None
        self.seen_addresses: set[str] = set()
        self._nursery: trio.Nursery | None = None
        self._failed: dict[str, float] = {}  # learnt address -> when it last failed

    def _new(self, address: str) -> bool:
        """Whether a peer's ``address`` is worth subscribing at: not seen, not failed lately."""
        failed = self._failed.get(address)
        recent = failed is not None and trio.current_time() - failed < LEARNT_COOLDOWN_S
        return address not in self.seen_addresses and not recent

    async def __call__(self, verb: str, body: dict[str, Any], sender: str) -> dict[str, Any]:
        """The handler of the discovery peer."""
        if verb == "announce" and self.static:
            return protocol.error(
                "advert_rejected",
                "this hub keeps a static inventory (the centralized orchestration): it "
                "takes no adverts",
                reason="static",
            )
        if verb == "announce":
            data = json.dumps(body).encode()
            claimed = body.get("node_id")
            node_id = claimed if isinstance(claimed, str) else sender
            try:
                advert = self.registry.offer(data, sender)
            except AdvertError as exc:
                if self.on_advert is not None:
                    self.on_advert(node_id=node_id, accepted=False, reason=exc.reason, advert=body)
                return protocol.error(
                    "advert_rejected", str(exc), reason=exc.reason, where=exc.where
                )
            if self.on_advert is not None:
                self.on_advert(node_id=advert.node_id, accepted=True, reason=None, advert=body)
            named = [a for a in advert.addresses if a.endswith("/p2p/" + sender)]
            if self.peer is not None and named:
                self.peer.learn(sender, named[0])
            return {"ok": True, "sequence": advert.sequence}
        if verb == "report":
            try:
                req = protocol.report_request(body)
            except protocol.BadRequest as exc:
                return protocol.bad_request(exc)
            entry = self.registry.entry(req["node_id"])
            if entry is None or entry.advert.peer_id != sender:
                return protocol.error("not_found", f"no node {req['node_id']!r} of this peer")
            self.registry.report_fidelity(req["node_id"], req["fidelity"], at=req["timestamp"])
            return {"ok": True}
        if verb == "subscribe":
            peers = [e.advert.addresses[0] for e in self.registry.entries() if e.advert.addresses]
            return {"ok": True, "role": "registry", "node": None, "peers": peers}
        return protocol.error("bad_request", f"discovery does not serve {verb!r}", where="verb")

    def on_disconnect(self, peer_id: str) -> None:
        """The transport lost ``peer_id``."""
        self.registry.disconnected(peer_id)

    async def join(self, addresses: list[str], tries: int | None = None) -> None:
        """Subscribe through ``addresses`` and every address their replies name, each
        tried ``tries`` times (``None``: until it answers)."""
        assert self.peer is not None
        async with trio.open_nursery() as nursery:
            for address in addresses:
                if address in self.seen_addresses or len(self.seen_addresses) >= MAX_CRAWL:
                    continue
                if address.endswith("/p2p/" + self.peer.peer_id):
                    continue
                self.seen_addresses.add(address)
                nursery.start_soon(self._subscribe, address, tries)

    async def _subscribe(self, address: str, tries: int | None = None) -> None:
        """Subscribe at ``address``, retrying with backoff while it is not reachable (at
        most ``tries`` times: then it may be named again later)."""
        assert self.peer is not None
        timeout = self.registry.network.request_timeout_s
        delay = 0.2
        tried = 0
        while True:
            try:
                pid = await self.peer.dial(address)
                reply = await self.peer.call(pid, "subscribe", {}, timeout=timeout)
                break
            except TransportError as exc:
                tried += 1
                if tries is not None and tried >= tries:
                    self.seen_addresses.discard(address)
                    self._failed[address] = trio.current_time()
                    return
                logger.debug("could not join through {} ({}); retry in {} s", address, exc, delay)
                await trio.sleep(delay)
                delay = min(delay * 2, 5.0)
        await self.join(_addresses(reply), LEARNT_TRIES)

    async def probe_forever(self) -> None:
        """Measure every known node each refresh interval (FR-008)."""
        assert self.peer is not None
        net = self.registry.network
        while True:
            await trio.sleep(net.refresh_s)
            async with trio.open_nursery() as nursery:
                for entry in self.registry.entries():
                    if entry.available:
                        nursery.start_soon(self._probe_one, entry.node_id, entry.advert.peer_id)

    async def _probe_one(self, node_id: str, peer_id: str) -> None:
        assert self.peer is not None
        start = trio.current_time()
        try:
            reply = await self.peer.call(
                peer_id, "status", {}, timeout=self.registry.network.request_timeout_s
            )
            ok = bool(reply.get("ok"))
        except TransportError:
            ok = False
        self.registry.record_call(node_id, (trio.current_time() - start) * 1000.0, ok)
        learnt = [a for a in _addresses(reply) if self._new(a)] if ok else []
        if learnt and self._nursery is not None:  # continuous discovery (issue 17)
            self._nursery.start_soon(self.join, learnt, LEARNT_TRIES)

    async def run(self, peer: Peer, bootstrap: list[str]) -> None:
        """Join the network, then listen (and measure) until cancelled."""
        self.peer = peer
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.join, bootstrap)
            if self.probe:
                nursery.start_soon(self.probe_forever)
            await trio.sleep_forever()


def _addresses(reply: dict[str, Any]) -> list[str]:
    """The peer addresses a ``subscribe`` or ``status`` reply names."""
    peers = reply.get("peers")
    return [a for a in peers if isinstance(a, str)] if isinstance(peers, list) else []
