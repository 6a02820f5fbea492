"""Running a service node (FR-001, FR-005): transport peer, advertiser, clean shutdown.

:func:`run_node` opens a peer with the configured transport (identity kept in
``<data_dir>/identity``, so the peer id survives restarts), serves the node protocol
through a :class:`~qorch.node.service.NodeService`, and advertises: to every bootstrap
peer (redialled until it answers) and every peer that subscribed, at once when the
advert's content changes and every ``[network] refresh_s`` as a heartbeat, over either
transport (``libp2p``, ``tcp``).
When the peer is up it calls ``on_ready`` with its first address; SIGTERM or SIGINT
(or ``stop``) ends it cleanly, and so does the end of the process that started it when
that handed it a parent pipe (:mod:`qorch.node.watchdog`, issue 18).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import trio
from loguru import logger

from qorch.config import Settings
from qorch.errors import ConfigError
from qorch.faults import NodeFaults, load_schedule
from qorch.interfaces import NodeType, Peer, Plugins
from qorch.node.advert import LinkQuality
from qorch.node.choreography import Choreography, PeerDirectory
from qorch.node.presets import PRESETS
from qorch.node.protocol import NODE_VERBS
from qorch.node.service import NodeService
from qorch.node.watchdog import watch_parent
from qorch.topology import NodeSpec
from qorch.transport import PeerConfig, TransportError

RETRY_S = (0.2, 0.5, 1.0, 2.0)


def node_type_for(plugins: Plugins, spec: NodeSpec) -> tuple[NodeType, NodeSpec]:
    """The node type plugin for ``spec`` and the spec it offers.

    ``spec.node_type`` names a node type plugin, or a preset of ``simulated``
    (``superconducting``, ``trapped-ion``); gates listed in the spec win over the
    preset's. Coherence: the spec's own ``t1_us``/``t2_us`` (a topology entry's
    ``t1_us``/``t2_us`` or ``coherence``) win; a spec without them takes its node type's
    (what ``describe`` gives). The generic ``simulated`` — the node type of an entry that
    names none — adds nothing: its entry is the whole description, so an entry without
    coherence never decoheres (a fidelity-1 topology stays exactly ideal).
    Raises :class:`~qorch.errors.UnknownImplementation` for any other name.
    """

    if spec.node_type in PRESETS:
        node_type = plugins.create("node_type", "simulated")
        base = node_type.describe(spec.name, spec.node_type)
        return node_type, base if not spec.gates else _with_coherence(spec, base)
    node_type = plugins.create("node_type", spec.node_type)
    if spec.node_type == "simulated" or spec.t1_us is not None:
        return node_type, spec
    return node_type, _with_coherence(spec, node_type.describe(spec.name))


def _with_coherence(spec: NodeSpec, base: NodeSpec) -> NodeSpec:
    """``spec``, with ``base``'s coherence times if it has none of its own."""
    if spec.t1_us is not None or base.t1_us is None:
        return spec
    return attrs.evolve(spec, t1_us=base.t1_us, t2_us=base.t2_us)


class Advertiser:
    """Sends the node's advert to bootstrap peers and subscribers (module docstring)."""

    def __init__(
        self, service: NodeService, peer: Peer, bootstrap: list[str], settings: Settings
    ) -> None:
        self.service = service
        self.peer = peer
        self.bootstrap = list(bootstrap)
        self.net = settings.network
        self.targets: dict[str, str | None] = {}  # peer id -> bootstrap address (None: subscriber)
        self.sequence = 0
        self.sent = 0

    def next_sequence(self) -> int:
        """Increasing across restarts too: milliseconds since the epoch, at least +1."""
        self.sequence = max(self.sequence + 1, int(time.time() * 1000))
        return self.sequence

    async def join(self, address: str) -> None:
        """Dial a bootstrap peer until it answers (backing off), then subscribe to it."""
        attempt = 0
        while True:
            try:
                pid = await self.peer.dial(address)
                body = {"addresses": list(self.peer.addresses), "adverts": False}
                reply = await self.peer.call(
                    pid, "subscribe", body, timeout=self.net.request_timeout_s
                )
                logger.info("joined {} ({})", address, reply.get("node") or "a registry")
                if reply.get("role") == "registry":
                    self.targets[pid] = address
                    self.service.changed.set()
                return
            except TransportError as exc:
                delay = RETRY_S[min(attempt, len(RETRY_S) - 1)]
                logger.debug("bootstrap {} not reached ({}); retry in {} s", address, exc, delay)
                attempt += 1
                await trio.sleep(delay)

    async def announce_once(self) -> None:
        """Send the current advert to every target at once."""
        for sub in self.service.subscribers:
            self.targets.setdefault(sub, None)
        body = self.service.advert(
            self.peer.peer_id, self.peer.addresses, self.next_sequence(), self.net.advert_ttl_s
        ).to_dict()

        timeout = min(self.net.request_timeout_s, self.net.refresh_s)

        async def send(pid: str) -> None:
            try:
                reply = await self.peer.call(pid, "announce", body, timeout=timeout)
                if not reply.get("ok"):
                    logger.warning("advert refused by {}: {}", pid, reply.get("error"))
            except TransportError as exc:
                if self.targets.get(pid) is None:  # a subscriber that went away
                    self.targets.pop(pid, None)
                    self.service.subscribers.discard(pid)
                logger.debug("advert to {} not delivered: {}", pid, exc)

        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            for pid in list(self.targets):
                nursery.start_soon(send, pid)
        self.sent += 1
        logger.debug(
            "advert {} to {} peers in {:.1f} ms",
            body["sequence"],
            len(self.targets),
            (trio.current_time() - started) * 1000,
        )

    async def run(self) -> None:
        """Join the bootstrap peers, then advertise on change and every refresh interval."""
        async with trio.open_nursery() as nursery:
            for address in self.bootstrap:
                nursery.start_soon(self.join, address)
            while True:
                with trio.move_on_after(self.net.refresh_s):
                    await self.service.changed.wait()
                self.service.changed = trio.Event()
                await self.announce_once()


def _addresses(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@attrs.frozen
class NodeOptions:
    """Where and how :func:`run_node` runs a node: the address it listens on, the
    bootstrap peers it joins through, its data directory (its identity lives there), the
    seed and time scale of its simulated QPU, the links it advertises, the fault
    schedule (JSON) whose latency spikes and degradations it applies (FR-013), and the
    read end of the pipe whose end of file means the process that started it has ended
    (``parent_fd``, see :mod:`qorch.node.watchdog`)."""

    listen: str
    data_dir: Path
    bootstrap: tuple[str, ...] = attrs.field(default=(), converter=_addresses)
    seed: int = 0
    time_scale: float = 0.0
    links: tuple[LinkQuality, ...] = ()
    faults: Path | None = None
    parent_fd: int | None = None


async def run_node(
    spec: NodeSpec,
    app: Any,
    options: NodeOptions,
    *,
    on_ready: Callable[[str], None] = print,
    stop: trio.Event | None = None,
) -> None:
    """Run the node ``spec`` describes, as ``options`` say, until SIGTERM/SIGINT,
    ``stop`` or the end of its parent (see the module docstring); ``app`` holds the
    settings and plugins."""
    settings: Settings = app.settings
    node_type, offered = node_type_for(app.plugins, spec)
    faults = options.faults
    applied = NodeFaults(load_schedule(faults), spec.name) if faults is not None else None
    service = NodeService(
        offered, node_type, seed=options.seed, time_scale=options.time_scale, faults=applied
    )
    service.known = list(options.bootstrap)
    service.links = options.links
    transport = app.plugins.create("transport", settings.network.transport)
    config = PeerConfig(
        spec.name,
        options.data_dir / "identity",
        options.listen,
        settings.network.max_message_bytes,
        verbs=NODE_VERBS,
    )
    stop = trio.Event() if stop is None else stop
    async with (
        transport.open(config, service, service.forget) as peer,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(_watch_signals, stop)  # before "ready": a signal then is handled
        if options.parent_fd is not None:
            await nursery.start(partial(watch_parent, name=spec.name), options.parent_fd, stop)
        service.choreography = Choreography(spec.name, service, PeerDirectory(peer))
        await nursery.start(service.choreography.run)
        if faults is not None:
            await nursery.start(_reload_faults_on_sighup, service, faults)
        nursery.start_soon(Advertiser(service, peer, list(options.bootstrap), settings).run)
        on_ready(f"ready {peer.addresses[0]}")
        await stop.wait()
        logger.info("{} stopping", spec.name)
        nursery.cancel_scope.cancel()


async def _reload_faults_on_sighup(
    service: NodeService,
    path: Path,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """SIGHUP: read the fault schedule again (the harness wrote its epoch), FR-013."""
    with trio.open_signal_receiver(signal.SIGHUP) as signals:
        task_status.started()
        async for _sig in signals:
            try:
                service.faults = NodeFaults(load_schedule(path), service.spec.name)
            except ConfigError as exc:  # keep the schedule it had
                logger.error("{}: fault schedule not reloaded: {}", service.spec.name, exc)
            else:
                logger.info("{}: fault schedule reloaded", service.spec.name)


async def _watch_signals(
    stop: trio.Event, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for _sig in signals:
            stop.set()
            return
