"""The ``libp2p`` transport: qorch's wire framing over one libp2p stream per peer pair.

Each peer runs a py-libp2p host (TCP, Noise only, yamux; see :mod:`qorch_libp2p.host`)
whose peer id is derived from an Ed25519 key kept in the peer's identity directory.
Dialling connects to the host named by the ``/p2p/<id>`` of the address — Noise proves
that the far side holds that id's key — and opens ONE long-lived stream with protocol
:data:`PROTOCOL_ID`; everything after that is :mod:`qorch.wire`. Inbound streams are
served the same way.

A channel ends when its stream ends; a network notifee also closes the channel of a
connection libp2p reports as gone (including one dropped by the health pings), so
``on_disconnect`` fires promptly. Before every dial the peer is taken out of libp2p's
60 s negative dial cache, so a restarted peer is reached again at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee
from libp2p.custom_types import TProtocol
from libp2p.network.swarm import Swarm
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from loguru import logger
from multiaddr import Multiaddr

from qorch.transport import Handler, PeerConfig, TransportError
from qorch.wire import ChannelPeer
from qorch_libp2p.host import (
    NetStreamAdapter,
    build_host,
    load_key_pair,
    quiet_libp2p_logging,
)

PROTOCOL_ID = TProtocol("/qorch/rpc/1.0.0")
#: Longest a dial (connect + Noise + yamux + protocol negotiation) may take.
DIAL_TIMEOUT_S = 10.0
#: Longest closing the host (connections, listeners) may take on exit.
CLOSE_TIMEOUT_S = 5.0


class Libp2pPeer(ChannelPeer):
    """A peer of the ``libp2p`` transport (see :class:`qorch.transport.Peer`)."""

    def __init__(
        self,
        config: PeerConfig,
        handler: Handler,
        on_disconnect: Callable[[str], None] | None,
        nursery: trio.Nursery,
        *,
        host: IHost,
    ) -> None:
        super().__init__(config, handler, on_disconnect, nursery, str(host.get_id()))
        self.host = host

    @property
    def addresses(self) -> tuple[str, ...]:
        """The addresses this peer listens on, each ending ``/p2p/<peer id>``."""
        return tuple(f"{addr}/p2p/{self._peer_id}" for addr in self.host.get_transport_addrs())

    async def open_channel_stream(self, address: str) -> tuple[NetStreamAdapter, str]:
        """Connect to the peer named by ``address`` and open the RPC stream to it."""
        try:
            info = info_from_p2p_addr(Multiaddr(address))
        except Exception as exc:
            raise TransportError(
                "unreachable", f"not a multiaddr ending /p2p/<id>: {address!r} ({exc})"
            ) from None
        claimed = str(info.peer_id)
        if claimed == self._peer_id:
            raise TransportError("unreachable", f"{address} is this peer itself", claimed)
        try:
            with trio.fail_after(DIAL_TIMEOUT_S):
                stream = await self._connect_and_open(info)
        except trio.TooSlowError:
            raise TransportError(
                "unreachable", f"dialling {address} took over {DIAL_TIMEOUT_S:g} s", claimed
            ) from None
        except Exception as exc:
            raise TransportError(
                "unreachable", f"cannot dial {address}: {type(exc).__name__}: {exc}", claimed
            ) from None
        return NetStreamAdapter(stream), str(stream.muxed_conn.peer_id)

    async def _connect_and_open(self, info: PeerInfo) -> INetStream:
        """Connect (reusing a live connection) and open the RPC stream.

        A connection to a peer that went away stays registered for a moment after it
        closed (libp2p removes it only after notifying), and ``new_stream`` then fails
        with "No valid connections"; such connections are dropped first, and a dial that
        fails over an existing connection is retried once on a fresh one.
        """
        network = self.host.get_network()
        assert isinstance(network, Swarm)  # new_host's network, with unblock_peer
        for attempt in (1, 2):
            existing = network.get_connections(info.peer_id)
            if existing and (attempt == 2 or all(conn.is_closed for conn in existing)):
                await self.host.disconnect(info.peer_id)
            network.unblock_peer(info.peer_id)  # P6: skip the 60 s negative dial cache
            try:
                await self.host.connect(info)
                return await self.host.new_stream(info.peer_id, [PROTOCOL_ID])
            except Exception:
                if attempt == 2 or not existing:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def handle_stream(self, stream: INetStream) -> None:
        """Serve an inbound RPC stream until it ends; no exception escapes (P3)."""
        adapted = NetStreamAdapter(stream)
        try:
            remote = str(stream.muxed_conn.peer_id)
            await self.serve_stream(adapted, remote)
        except Exception as exc:
            logger.debug("inbound libp2p stream failed: {}: {}", type(exc).__name__, exc)
            with trio.CancelScope(shield=True):
                await adapted.reset()

    def connection_lost(self, conn: INetConn) -> None:
        """Close the channel running over ``conn`` (libp2p reported it closed)."""
        muxed = getattr(conn, "muxed_conn", None)
        remote = str(getattr(muxed, "peer_id", ""))
        channel = self.channels.get(remote)
        if channel is None or channel.closed.is_set():
            return
        stream = channel.stream
        if isinstance(stream, NetStreamAdapter) and stream.muxed_conn is not muxed:
            return  # the channel already runs over a newer connection
        self.nursery.start_soon(channel._close_quietly)


class _Notifee(INotifee):
    """Forwards libp2p's ``disconnected`` events to the peer; ignores the rest."""

    def __init__(self, peer: Libp2pPeer) -> None:
        self.peer = peer

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        """Ignored."""

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        """Ignored."""

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        """Ignored."""

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        """Close the channel that ran over ``conn``."""
        try:
            self.peer.connection_lost(conn)
        except Exception as exc:
            logger.debug("libp2p disconnect notification failed: {}", exc)

    async def listen(self, network: INetwork, multiaddr: Multiaddr) -> None:
        """Ignored."""

    async def listen_close(self, network: INetwork, multiaddr: Multiaddr) -> None:
        """Ignored."""


class Libp2pTransport:
    """Opens :class:`Libp2pPeer` instances (see :class:`qorch.transport.Transport`)."""

    def check_address(self, address: str) -> str | None:
        """What is wrong with ``address`` (a multiaddr ending ``/p2p/<peer id>``), or
        ``None``."""
        try:
            info_from_p2p_addr(Multiaddr(address))
        except Exception as exc:  # multiaddr raises several types for bad text
            return (
                f"not a multiaddr like /ip4/127.0.0.1/tcp/7001/p2p/<peer id>: {address!r} ({exc})"
            )
        return None

    async def baseline_round_trips(self, n: int) -> list[float]:
        """``n`` round trips (seconds) of bare libp2p request/response, no qorch code on
        the path: what ``qorch bench transport`` compares the channel with."""
        from qorch_libp2p.bench import bare_round_trips

        return await bare_round_trips(n)

    @asynccontextmanager
    async def open(
        self,
        config: PeerConfig,
        handler: Handler,
        on_disconnect: Callable[[str], None] | None = None,
    ) -> AsyncIterator[Libp2pPeer]:
        """Listen on ``config.listen`` (a multiaddr) and run the peer until the block exits."""
        quiet_libp2p_logging()
        try:
            listen = Multiaddr(config.listen)
        except Exception as exc:
            raise TransportError(
                "unreachable", f"not a multiaddr like /ip4/127.0.0.1/tcp/7001: {config.listen!r}"
            ) from exc
        host = build_host(load_key_pair(config.identity_dir))
        # The nursery is opened before the host's exit stack (P7).
        async with trio.open_nursery() as nursery:
            try:
                async with host.run(listen_addrs=[listen]):
                    await _stop_auto_connector(host)
                    peer = Libp2pPeer(config, handler, on_disconnect, nursery, host=host)
                    host.set_stream_handler(PROTOCOL_ID, peer.handle_stream)
                    host.get_network().register_notifee(_Notifee(peer))
                    try:
                        yield peer
                    finally:
                        with trio.CancelScope(shield=True):
                            await peer.close()
                            await _close_host(host)
            finally:
                nursery.cancel_scope.cancel()


async def _stop_auto_connector(host: IHost) -> None:
    """Stop libp2p's auto-connector: it redials every peer in the peerstore to keep
    50-100 connections, while qorch dials exactly the peers it needs (its address book).
    """
    auto = getattr(host.get_network(), "auto_connector", None)
    if auto is not None:
        try:
            await auto.stop()
        except Exception as exc:
            logger.debug("could not stop the libp2p auto-connector: {}", exc)


async def _close_host(host: IHost) -> None:
    """Close connections and listeners explicitly.

    Leaving ``host.run()`` does not close the TCP listener (it runs as a trio system
    task with SO_REUSEPORT), so a peer restarted on the same port would share it with
    the dead one and half the dials would land on the dead host.
    """
    with trio.move_on_after(CLOSE_TIMEOUT_S):
        try:
            await host.close()
        except Exception as exc:
            logger.debug("closing the libp2p host failed: {}: {}", type(exc).__name__, exc)
