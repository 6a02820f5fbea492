"""How a coordinator calls nodes by name (FR-006, FR-008).

:class:`PeerClient` is the :class:`~qorch.runtime.plan_runner.NodeClient` of a coordinator: it
maps node names to peer ids through the registry, holds a ``reserve`` or ``execute`` for
a node the registry lists unavailable until it is back (the latest snapshot before each
invocation; ``unavailable`` when the call's timeout passes first), and records every
call's round trip and outcome as a quality sample.
"""

from __future__ import annotations

import time
from typing import Any

import trio

from qorch.coordinator.node_registry import NodeRegistry
from qorch.interfaces import Peer
from qorch.transport import TransportError

#: calls that wait for the registry to list the node available before they are sent
GATED_VERBS = frozenset({"reserve", "execute"})
AVAILABILITY_POLL_S = 0.02


class PeerClient:
    """Calls nodes by name over the coordinator's peer (see the module docstring)."""

    def __init__(self, peer: Peer, registry: NodeRegistry) -> None:
        self.peer = peer
        self.registry = registry

    async def call(
        self, node: str, verb: str, body: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """One request to ``node``; ``unreachable`` if the registry does not know it."""
        peer_id = self.registry.peer_of(node)
        if peer_id is None:
            raise TransportError("unreachable", f"no node {node!r} in the registry", node)
        start = time.perf_counter()
        if verb in GATED_VERBS and not self.registry.is_available(node):
            # the latest snapshot says it is gone (FR-008): do not send it work; a node
            # that reconnects (a dropped connection, a restart) is used once it is back
            with trio.move_on_after(timeout):
                while not self.registry.is_available(node):
                    await trio.sleep(AVAILABILITY_POLL_S)
            if not self.registry.is_available(node):
                raise TransportError(
                    "unavailable", f"{node} stayed unavailable in the registry", node
                )
            timeout -= time.perf_counter() - start
        try:
            reply = await self.peer.call(peer_id, verb, body, timeout=timeout)
        except TransportError:
            self.registry.record_call(node, (time.perf_counter() - start) * 1000, False)
            raise
        self.registry.record_call(node, (time.perf_counter() - start) * 1000, True)
        return reply

    def contact(self, node: str) -> dict[str, Any] | None:
        """The peer id and addresses ``node`` advertised (for its peers, issue 17)."""
        entry = self.registry.entry(node)
        if entry is None:
            return None
        return {"peer_id": entry.advert.peer_id, "addresses": list(entry.advert.addresses[:4])}
