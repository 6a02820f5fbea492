"""Bare libp2p request/response, the baseline ``qorch bench transport`` compares with.

Two hosts on 127.0.0.1 in this process (Noise + yamux, as built by :func:`build_host`)
connect once and open ONE long-lived stream; ``n`` sequential varint-framed echoes are
timed after :data:`WARMUP` untimed ones — no qorch code on the path::

    trio.run(bare_round_trips, 300)
"""

from __future__ import annotations

import json
import time

import trio
from libp2p.abc import INetStream
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.io.msgio import VarIntLengthMsgReadWriter
from libp2p.peer.peerinfo import info_from_p2p_addr
from multiaddr import Multiaddr

from qorch_libp2p.host import build_host, quiet_libp2p_logging

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
