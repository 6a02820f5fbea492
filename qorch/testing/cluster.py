"""Helpers for integration tests with real node processes (FR-005, FR-010)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from qorch.node.protocol import reserve_body

__all__ = ["node_statuses", "reserve_body"]


def node_statuses(
    addresses: list[str],
    data_dir: Path,
    until: Callable[[dict[str, dict[str, Any]]], bool] | None = None,
    timeout_s: float = 60.0,
) -> dict[str, dict[str, Any]]:
    """Each node's ``status`` answer (load, ``active_reservations``, ``executions``...) by
    registry node id, asked by a peer of the test (its identity under ``data_dir``) once every
    node at ``addresses`` is available; with ``until``, asked again until it holds.
    Bounded by ``timeout_s`` (``trio.TooSlowError``)."""
    from qorch.config import Settings
    from qorch.coordinator.local_cluster import coordinator_peer
    from qorch.plugins import PluginSystem

    async def ask() -> dict[str, dict[str, Any]]:
        plugins = PluginSystem(Settings())
        async with coordinator_peer(plugins, data_dir, addresses) as (registry, client, _peer):
            with trio.fail_after(timeout_s):
                while len([e for e in registry.entries() if e.available]) < len(addresses):
                    await trio.sleep(0.05)
                while True:
                    answers = {
                        e.node_id: await client.call(e.node_id, "status", {}, 10.0)
                        for e in registry.entries()
                    }
                    if until is None or until(answers):
                        return answers
                    await trio.sleep(0.1)

    return trio.run(ask)
