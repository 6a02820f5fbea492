"""The ``tcp`` transport: qorch's wire framing over plain TCP (DESIGN §9).

On connect each side sends one hello frame ``{"hello": <peer id>, "protocol":
"/qorch/tcp/1.0.0"}``; the rest is :mod:`qorch.wire`. There is no encryption and no
proof of identity — this is the baseline the harness compares libp2p against, meant
for loopback and trusted networks.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from qorch.transport import Handler, PeerConfig, TransportError
from qorch.wire import ChannelPeer, FrameReader, Prepended, encode_frame

PROTOCOL = "/qorch/tcp/1.0.0"
HELLO_TIMEOUT_S = 5.0


def parse_address(address: str) -> tuple[str, int, str | None]:
    """``/ip4/H/tcp/P[/p2p/ID]`` (or ``/dns4/H/...``) → host, port, peer id."""
    parts = address.strip("/").split("/")
    try:
        if parts[0] not in ("ip4", "ip6", "dns4", "dns", "dns6") or parts[2] != "tcp":
            raise ValueError
        host, port = parts[1], int(parts[3])
        pid = parts[5] if len(parts) >= 6 and parts[4] == "p2p" else None
        if len(parts) not in (4, 6) or not 0 <= port < 65536:
            raise ValueError
    except (IndexError, ValueError):
        raise TransportError(
            "unreachable", f"not an address like /ip4/127.0.0.1/tcp/7001: {address!r}"
        ) from None
    return host, port, pid


def load_identity(directory: Path) -> str:
    """This peer's id, created on first use and kept in ``directory``."""
    path = directory / "tcp-peer-id"
    for known in (path, directory / "central-peer-id"):  # the name before issue 17
        if known.exists():
            return known.read_text().strip()
    directory.mkdir(parents=True, exist_ok=True)
    pid = "tcp-" + secrets.token_hex(12)
    path.write_text(pid + "\n")
    return pid


class TcpPeer(ChannelPeer):
    """A peer of the ``tcp`` transport."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def addresses(self) -> tuple[str, ...]:
        """The one address this peer listens on."""
        return (f"/ip4/{self.host}/tcp/{self.port}/p2p/{self._peer_id}",)

    async def _hello(self, stream: trio.SocketStream) -> tuple[Prepended, str]:
        """Exchange hellos; the stream returned replays what was read past the hello."""
        await stream.send_all(encode_frame({"hello": self._peer_id, "protocol": PROTOCOL}))
        reader = FrameReader(stream, 4096)
        with trio.move_on_after(HELLO_TIMEOUT_S):
            hello = await reader.read()
            if hello and hello.get("protocol") == PROTOCOL and isinstance(hello.get("hello"), str):
                return Prepended(stream, bytes(reader.buffer)), hello["hello"]
        raise TransportError("protocol", "no valid hello from the other side")

    async def open_channel_stream(self, address: str) -> tuple[Prepended, str]:
        """Connect over TCP and exchange hellos."""
        host, port, _pid = parse_address(address)
        try:
            stream = await trio.open_tcp_stream(host, port)
        except OSError as exc:
            raise TransportError("unreachable", f"cannot connect to {address}: {exc}") from None
        try:
            return await self._hello(stream)
        except (TransportError, trio.BrokenResourceError, OSError) as exc:
            await stream.aclose()
            raise TransportError("unreachable", f"handshake with {address} failed: {exc}") from None

    async def _accept(self, stream: trio.SocketStream) -> None:
        try:
            wrapped, remote = await self._hello(stream)
        except (TransportError, trio.BrokenResourceError, OSError) as exc:
            logger.debug("refused a tcp connection: {}", exc)
            await stream.aclose()
            return
        await self.serve_stream(wrapped, remote)


class TcpTransport:
    """Opens :class:`TcpPeer` instances (see :class:`qorch.transport.Transport`)."""

    def check_address(self, address: str) -> str | None:
        """What is wrong with ``address`` (``/ip4/H/tcp/P[/p2p/ID]``), or ``None``."""
        try:
            parse_address(address)
        except TransportError as exc:
            return str(exc)
        return None

    async def baseline_round_trips(self, n: int, warmup: int = 10) -> list[float]:
        """``n`` round trips (seconds) of a bare TCP echo of a small frame on 127.0.0.1:
        what ``qorch bench transport`` compares the channel with."""
        frame = encode_frame({"id": 1, "verb": "status", "body": {"n": 1}})

        async def echo(stream: trio.SocketStream) -> None:
            try:
                while data := await stream.receive_some(65_536):
                    await stream.send_all(data)
            except trio.BrokenResourceError:
                return

        times: list[float] = []
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, echo, 0, host="127.0.0.1")
            )
            port = listeners[0].socket.getsockname()[1]
            async with await trio.open_tcp_stream("127.0.0.1", port) as client:
                for i in range(warmup + n):
                    start = time.perf_counter()
                    await client.send_all(frame)
                    got = b""
                    while len(got) < len(frame):
                        got += await client.receive_some(65_536)
                    if i >= warmup:
                        times.append(time.perf_counter() - start)
            nursery.cancel_scope.cancel()
        return times

    @asynccontextmanager
    async def open(
        self,
        config: PeerConfig,
        handler: Handler,
        on_disconnect: Callable[[str], None] | None = None,
    ) -> AsyncIterator[TcpPeer]:
        """Listen on ``config.listen`` and run the peer until the block exits."""
        host, port, _ = parse_address(config.listen)
        pid = load_identity(config.identity_dir)
        async with trio.open_nursery() as nursery:
            peer = TcpPeer(config, handler, on_disconnect, nursery, peer_id=pid)
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, peer._accept, port, host=host)
            )
            peer.host, peer.port = host, listeners[0].socket.getsockname()[1]
            try:
                yield peer
            finally:
                await peer.close()
                nursery.cancel_scope.cancel()
