"""Round-trip helpers: qorch's channel over libp2p against bare libp2p, in one process.

Both start two hosts on 127.0.0.1 (Noise + yamux, as built by :func:`build_host`),
connect them once, open ONE long-lived stream, then time ``n`` sequential request/reply
round trips (after :data:`WARMUP` untimed ones). They return the times in seconds::

    trio.run(bare_round_trips, 300)      # varint frames echoed, no qorch code on the path
    trio.run(channel_round_trips, 300)   # Libp2pTransport peers and Peer.call()
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import trio
from libp2p.abc import INetStream
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.io.msgio import VarIntLengthMsgReadWriter
from libp2p.peer.peerinfo import info_from_p2p_addr
from multiaddr import Multiaddr

from qorch.transport import PeerConfig
from qorch_libp2p.host import build_host, quiet_libp2p_logging
from qorch_libp2p.transport import Libp2pTransport

BARE_PROTOCOL_ID = TProtocol("/qorch/bench-echo/1.0.0")
LOCAL = "/ip4/127.0.0.1/tcp/0"
MAX_MESSAGE_BYTES = 1 << 20
#: Round trips made before timing starts (first-use costs are not what we compare).
WARMUP = 10


def _request(i: int) -> bytes:
    """A request about the size of a small qorch call."""
    return json.dumps({"id": i, "verb": "status", "body": {"n": i}}).encode()


async def _echo_handler(stream: INetStream) -> None:
    """Echo varint-framed messages until the stream ends; nothing escapes (P3)."""
    rw = VarIntLengthMsgReadWriter(stream, MAX_MESSAGE_BYTES)
    try:
        while True:
            message = await rw.read_msg()
            await rw.write_msg(message)
    except Exception:
        try:
            await stream.reset()
        except Exception:
            return


async def bare_round_trips(n: int) -> list[float]:
    """``n`` sequential round trips (seconds) of varint frames on one bare libp2p stream."""
    quiet_libp2p_logging()
    server, client = build_host(create_new_key_pair()), build_host(create_new_key_pair())
    server.set_stream_handler(BARE_PROTOCOL_ID, _echo_handler)
    times: list[float] = []
    async with (
        server.run(listen_addrs=[Multiaddr(LOCAL)]),
        client.run(listen_addrs=[Multiaddr(LOCAL)]),
    ):
        try:
            address = f"{server.get_transport_addrs()[0]}/p2p/{server.get_id()}"
            info = info_from_p2p_addr(Multiaddr(address))
            await client.connect(info)
            stream = await client.new_stream(info.peer_id, [BARE_PROTOCOL_ID])
            rw = VarIntLengthMsgReadWriter(stream, MAX_MESSAGE_BYTES)
            for i in range(WARMUP + n):
                request = _request(i)
                start = time.perf_counter()
                await rw.write_msg(request)
                reply = await rw.read_msg()
                elapsed = time.perf_counter() - start
                if reply != request:
                    raise RuntimeError("the echo differs from the request")
                if i >= WARMUP:
                    times.append(elapsed)
            await stream.reset()
        finally:
            with trio.CancelScope(shield=True):
                await client.close()
                await server.close()
    return times


async def _ok(verb: str, body: dict[str, Any], sender: str) -> dict[str, Any]:
    """The benchmark's handler: the request body back."""
    return {"ok": True, "body": body}


async def channel_round_trips(n: int) -> list[float]:
    """``n`` sequential ``call()`` round trips (seconds) between two ``libp2p`` peers."""
    transport = Libp2pTransport()
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="qorch-bench-") as tmp:

        def config(name: str) -> PeerConfig:
            return PeerConfig(name, Path(tmp) / name, LOCAL, MAX_MESSAGE_BYTES, ("status",))

        async with (
            transport.open(config("server"), _ok) as server,
            transport.open(config("client"), _ok) as client,
        ):
            pid = await client.dial(server.addresses[0])
            for i in range(WARMUP + n):
                start = time.perf_counter()
                await client.call(pid, "status", {"n": i}, timeout=10)
                elapsed = time.perf_counter() - start
                if i >= WARMUP:
                    times.append(elapsed)
    return times


def summary(times: list[float]) -> dict[str, float]:
    """``{"n", "p50_ms", "p95_ms", "max_ms"}`` of round-trip times in seconds."""
    ordered = sorted(times)
    if not ordered:
        return {"n": 0, "p50_ms": 0.0, "p95_ms": 0.0, "max_ms": 0.0}

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return {
        "n": len(ordered),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "max_ms": ordered[-1] * 1000,
    }
