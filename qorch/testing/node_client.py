"""An in-process :class:`~qorch.runtime.plan_runner.NodeClient` for unit tests.

It calls :class:`~qorch.node.service.NodeService` handlers directly (no network), logs
every call, and can inject transport failures: ``fail(node, verb, body)`` returning an
error code (``timeout``, ``unreachable``) makes that call raise
:class:`~qorch.transport.TransportError` instead of reaching the node; ``delay(node,
verb, body)`` returning seconds holds a call back that long (to force an interleaving).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import trio

from qorch.node.choreography import Choreography
from qorch.node.service import NodeService
from qorch.transport import TransportError


class DirectClient:
    """Calls node services in this process (see the module docstring)."""

    def __init__(
        self,
        services: dict[str, NodeService],
        fail: Callable[[str, str, dict[str, Any]], str | None] | None = None,
        delay: Callable[[str, str, dict[str, Any]], float] | None = None,
    ) -> None:
        self.services = services
        self.fail = fail
        self.delay = delay
        self.log: list[tuple[str, str, str, str]] = []  # (event, node, verb, fragment)

    async def call(
        self, node: str, verb: str, body: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """Hand ``body`` to the node's handler, unless a failure is injected."""
        fragment = str(body.get("correlation", {}).get("fragment_id", ""))
        self.log.append(("start", node, verb, fragment))
        if self.delay is not None:
            await trio.sleep(self.delay(node, verb, body))
        code = self.fail(node, verb, body) if self.fail is not None else None
        if code is not None:
            self.log.append(("fail", node, verb, fragment))
            raise TransportError(code, "injected by the test", node)
        if node not in self.services:
            raise TransportError("unreachable", f"no node {node}", node)
        with trio.move_on_after(timeout) as scope:
            reply = await self.services[node](verb, body, "coordinator")
        if scope.cancelled_caught:
            raise TransportError("timeout", f"{verb} timed out", node)
        self.log.append(("end", node, verb, fragment))
        return reply

    def learn(self, contacts: dict[str, Any]) -> None:
        """Nothing to learn: nodes here are reached by name."""

    def contact(self, node: str) -> dict[str, Any] | None:
        """Nodes here are reached by name."""
        return {"peer_id": node, "addresses": []} if node in self.services else None


@contextlib.asynccontextmanager
async def choreographed(
    services: dict[str, NodeService],
    peers: Callable[[str], DirectClient] | None = None,
) -> AsyncIterator[None]:
    """Run a :class:`~qorch.node.choreography.Choreography` on every service while the
    block runs, each calling its peers through ``peers(name)`` (default: a
    :class:`DirectClient` of all the services)."""
    async with trio.open_nursery() as nursery:
        for name, service in services.items():
            caller = peers(name) if peers is not None else DirectClient(services)
            service.choreography = Choreography(name, service, caller, service.clock)
            await nursery.start(service.choreography.run)
        yield
        nursery.cancel_scope.cancel()
