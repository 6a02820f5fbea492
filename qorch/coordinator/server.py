"""The coordinator service (FR-006, FR-009, FR-010): ``qorch coordinator`` and ``qorch up``.

One trio loop holds everything: the coordinator's peer (discovery and node calls over the
configured transport), the node registry, the store, the :class:`JobService` workers and
the HTTP API, which hypercorn's trio worker serves in the same loop. On start the store
is upgraded and every unfinished job is queued again (recovery); then one line
``{"event": "ready", "url", "peer"}`` goes to stdout, so scripts and tests know where to
connect. SIGINT and SIGTERM stop it: running jobs stop where they are, keep their state
and their windows, and the next start resumes them as after a crash (decision 0007).

Adverts, quality samples, fragment records and job metrics are persisted as they come
(:mod:`qorch.coordinator.recorder`); on start the stored adverts are reloaded into the
registry — listed but unavailable until their nodes advertise again — and the
coordinator subscribes to the addresses they name, so it finds its nodes again after a
restart even without ``--bootstrap``.

With a topology (``qorch up``) it first starts one node process per topology node on
127.0.0.1, bootstrapped to itself, and stops them when it stops.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.events import Closed
from hypercorn.trio import serve, tcp_server
from loguru import logger

from qorch.coordinator.api import create_app
from qorch.coordinator.events import EventHub
from qorch.coordinator.inventory import static_inventory
from qorch.coordinator.jobs import JobService
from qorch.coordinator.local_cluster import coordinator_peer, local_cluster
from qorch.coordinator.metrics import CoordinatorMetrics
from qorch.coordinator.node_registry import NodeRegistry
from qorch.coordinator.recorder import Recorder, restore_adverts
from qorch.coordinator.security import ApiGuard, KeyBook
from qorch.interfaces import Plugins
from qorch.store import Store

if TYPE_CHECKING:
    from qorch.plugins import PluginSystem


def open_store(plugins: Plugins, data_dir: Path) -> Store:
    """The configured store under ``data_dir``, opened and upgraded."""
    store = plugins.create("store", data_dir=data_dir)
    store.open()
    store.upgrade()
    return store


async def run_coordinator(
    plugins: PluginSystem,
    data_dir: Path,
    *,
    port: int | None = None,
    bootstrap: tuple[str, ...] = (),
    topology: Path | None = None,
    inventory: Path | None = None,
    listen: str = "/ip4/127.0.0.1/tcp/0",
) -> None:
    """Run the coordinator (module docstring) until SIGINT or SIGTERM; ``inventory`` is
    the static inventory of a hub (the ``centralized`` orchestration, issue 17)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    store = await trio.to_thread.run_sync(open_store, plugins, data_dir)
    recorder = Recorder(store)
    registry = NodeRegistry(
        plugins.settings.network,
        plugins.settings.quality,
        on_quality=recorder.quality,
        on_advert=recorder.advert,
    )
    hub = EventHub(plugins.settings.api.event_buffer)
    metrics = CoordinatorMetrics(registry, lambda: hub.clients)
    stored = await trio.to_thread.run_sync(store.list_adverts)
    known = restore_adverts(registry, stored, time.time())
    if stored:
        logger.info("service cache: {} of {} stored advert(s) restored", len(known), len(stored))
    try:
        peer_cm: AbstractAsyncContextManager[Any]
        if topology is not None:  # its nodes start afresh, on new addresses
            peer_cm = local_cluster(topology, plugins, data_dir, registry)
        else:  # find the nodes it knew again, besides the bootstrap addresses
            join = [*bootstrap, *(a for a in known if a not in bootstrap)]
            polled = None if inventory is None else static_inventory(plugins, registry, inventory)
            peer_cm = coordinator_peer(plugins, data_dir, join, listen, registry, polled)
        with plugins.observing(hub, "qorch-events"), plugins.observing(metrics, "qorch-metrics"):
            await _serve(plugins, store, recorder, registry, peer_cm, hub, metrics, port)
        await recorder.flush()
    finally:
        await trio.to_thread.run_sync(store.close)
        sys.stdout.flush()


async def _serve(
    plugins: PluginSystem,
    store: Any,
    recorder: Recorder,
    registry: NodeRegistry,
    peer_cm: AbstractAsyncContextManager[Any],
    hub: EventHub,
    metrics: CoordinatorMetrics,
    port: int | None,
) -> None:
    """Serve the API and run the jobs until SIGINT or SIGTERM."""
    settings = plugins.settings.coordinator
    async with peer_cm as opened, trio.open_nursery() as nursery:
        client = opened[1]
        service = JobService(
            store,
            plugins,
            client,
            registry.snapshot,
            concurrency=settings.concurrency,
            recorder=recorder,
            publish=hub.publish,
        )
        metrics.queue_depth = lambda: service.queue_depth
        await service.recover()
        nursery.start_soon(service.run)
        guard_hypercorn_close_race()
        config = HypercornConfig()
        config.bind = [f"{settings.host}:{settings.port if port is None else port}"]
        config.accesslog = None
        config.errorlog = None
        stop = trio.Event()
        binds = await nursery.start(
            lambda task_status: serve(
                ApiGuard(  # type: ignore[arg-type]  # hypercorn's ASGI TypedDicts, ApiGuard's dicts
                    create_app(service, registry, hub=hub, metrics=metrics),  # type: ignore[arg-type]  # litestar's ASGI TypedDicts
                    plugins.settings.api,
                    KeyBook(store),
                    on_request=metrics.request,
                ),
                config,
                shutdown_trigger=stop.wait,
                task_status=task_status,
            )
        )
        peer_address = client.peer.addresses[0]
        ready = {"event": "ready", "url": binds[0], "peer": peer_address}
        print(json.dumps(ready), flush=True)
        logger.info("coordinator ready at {} (peer {})", binds[0], peer_address)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                logger.info("stopping on {}", signal.Signals(signum).name)
                break
        service.stopping = True
        stop.set()
        nursery.cancel_scope.cancel()


def guard_hypercorn_close_race() -> None:
    """Keep a websocket closed mid-send from ending the coordinator (hypercorn 0.18).

    hypercorn's trio worker closes a connection (``TCPServer._close``: ``send_eof``) without
    its send lock; a send of another task on the same stream then raises
    ``trio.BusyResourceError``, which nothing catches, and the whole server stops. Treat
    it as what it is — the connection is closing — exactly as hypercorn treats a broken
    stream. Idempotent.
    """

    original = tcp_server.TCPServer.protocol_send
    if getattr(original, "qorch_guarded", False):
        return

    async def protocol_send(self: Any, event: Any) -> None:
        try:
            await original(self, event)
        except trio.BusyResourceError:
            await self.protocol.handle(Closed())

    protocol_send.qorch_guarded = True  # type: ignore[attr-defined]  # a marker: patched once
    tcp_server.TCPServer.protocol_send = protocol_send  # type: ignore[method-assign]  # patched on purpose
