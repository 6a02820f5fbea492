"""Contract tests for transports (DESIGN §8, §9): every installed transport runs them.

``tests/test_transport_contract.py`` subclasses :class:`TransportContract` for each
transport the plugin system knows, with a ``transport`` fixture giving the instance
(created from the registry with its configured options). Peers listen on 127.0.0.1.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from qorch.interfaces import Peer, Transport
from qorch.transport import PeerConfig, TransportError

VERBS = ("status", "execute", "announce")


def trio_test(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run an ``async def`` test under ``trio.run`` with a 60 s safety deadline."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        async def main() -> Any:
            with trio.fail_after(60):
                return await fn(*args, **kwargs)

        return trio.run(main)

    return wrapper


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def echo(verb: str, body: dict[str, Any], sender: str) -> dict[str, Any]:
    """The handler of the contract's server peer."""
    if body.get("raise"):
        raise RuntimeError("handler failed on purpose")
    if body.get("sleep"):
        await trio.sleep(body["sleep"])
    if body.get("reply_bytes"):
        return {"ok": True, "blob": "x" * body["reply_bytes"]}
    return {"ok": True, "verb": verb, "body": body, "sender": sender}


class TransportContract:
    """What every transport guarantees (see :mod:`qorch.transport`)."""

    listen_template = "/ip4/127.0.0.1/tcp/{port}"

    def config(self, tmp: Path, name: str, port: int = 0, limit: int = 65_536) -> PeerConfig:
        return PeerConfig(
            name, tmp / name, self.listen_template.format(port=port), limit, verbs=VERBS
        )

    @asynccontextmanager
    async def pair(
        self, transport: Transport, tmp: Path, limit: int = 65_536
    ) -> AsyncIterator[tuple[Peer, Peer]]:
        """A server and a client peer, the client connected to the server."""
        async with (
            transport.open(self.config(tmp, "server", limit=limit), echo) as server,
            transport.open(self.config(tmp, "client", limit=limit), echo) as client,
        ):
            assert await client.dial(server.addresses[0]) == server.peer_id
            yield server, client

    @trio_test
    async def test_a_request_gets_its_reply_with_the_callers_identity(
        self, transport: Transport, tmp_path: Path
    ) -> None:
        async with self.pair(transport, tmp_path) as (server, client):
            assert server.addresses and all(server.peer_id in a for a in server.addresses)
            reply = await client.call(server.peer_id, "status", {"n": 1}, timeout=5)
            assert reply == {
                "ok": True,
                "verb": "status",
                "body": {"n": 1},
                "sender": client.peer_id,
            }
            assert server.peer_id in client.connected()

    @trio_test
    async def test_addresses_are_checked_before_dialling(
        self, transport: Transport, tmp_path: Path
    ) -> None:
        async with transport.open(self.config(tmp_path, "server"), echo) as server:
            assert transport.check_address(server.addresses[0]) is None
        for garbage in ("garbage", "/ip4/127.0.0.1/tcp/notaport", ""):
            problem = transport.check_address(garbage)
            assert isinstance(problem, str) and problem

    @trio_test
    async def test_concurrent_requests_each_get_their_own_reply(
        self, transport: Transport, tmp_path: Path
    ) -> None:
        async with self.pair(transport, tmp_path) as (server, client):
            replies: dict[int, Any] = {}

            async def one(i: int) -> None:
                body = {"i": i, "sleep": 0.01 * (i % 3)}
                replies[i] = await client.call(server.peer_id, "execute", body, timeout=10)

            async with trio.open_nursery() as nursery:
                for i in range(30):
                    nursery.start_soon(one, i)
            assert all(replies[i]["body"]["i"] == i for i in range(30))

    @trio_test
    async def test_the_identity_survives_a_restart(
        self, transport: Transport, tmp_path: Path
    ) -> None:
        async with transport.open(self.config(tmp_path, "node"), echo) as first:
            pid = first.peer_id
        async with transport.open(self.config(tmp_path, "node"), echo) as again:
            assert again.peer_id == pid
        async with transport.open(self.config(tmp_path, "other"), echo) as other:
            assert other.peer_id != pid

    @trio_test
    async def test_a_failing_handler_gives_an_error_reply_and_the_connection_lives(
        self, transport: Transport, tmp_path: Path
    ) -> None:
        async with self.pair(transport, tmp_path) as (server, client):
            reply = await client.call(server.peer_id, "status", {"raise": True}, timeout=5)
            assert reply["ok"] is False and reply["error"]["code"] == "internal"
            again = await client.call(server.peer_id, "status", {"n": 2}, timeout=5)
            assert again["body"] == {"n": 2}

    @trio_test
    async def test_timeouts_unknown_verbs_and_size_limits_are_reported_by_code(
        self, transport: Transport, tmp_path: Path
    ) -> None:
        async with self.pair(transport, tmp_path, limit=4096) as (server, client):
            codes = []
            calls: list[tuple[str, dict[str, Any], float]] = [
                ("status", {"sleep": 5}, 0.3),
                ("frobnicate", {}, 5),
                ("status", {"pad": "y" * 10_000}, 5),
                ("status", {"reply_bytes": 10_000}, 5),
                ("status", {"x": float("inf")}, 5),
            ]
            for verb, body, timeout in calls:
                with pytest.raises(TransportError) as info:
                    await client.call(server.peer_id, verb, body, timeout=timeout)
                codes.append(info.value.code)
            assert codes == ["timeout", "protocol", "too_large", "too_large", "protocol"]
            ok = await client.call(server.peer_id, "status", {"n": 3}, timeout=5)
            assert ok["body"] == {"n": 3}

    @trio_test
    async def test_nothing_listening_is_unreachable(
        self, transport: Transport, tmp_path: Path
    ) -> None:
        async with self.pair(transport, tmp_path) as (server, _client):
            dead = server.addresses[0]
            pid = server.peer_id
        async with transport.open(self.config(tmp_path, "client"), echo) as client:
            with pytest.raises(TransportError) as info:
                await client.dial(dead)
            assert info.value.code == "unreachable"
            with pytest.raises(TransportError) as info:
                await client.call(pid, "status", {}, timeout=2)
            assert info.value.code == "unreachable"

    @trio_test
    async def test_a_restarted_peer_is_reached_again_and_its_loss_is_noticed(
        self, transport: Transport, tmp_path: Path
    ) -> None:
        port = free_port()
        lost: list[str] = []
        async with transport.open(self.config(tmp_path, "client"), echo, lost.append) as client:
            async with transport.open(self.config(tmp_path, "server", port), echo) as server:
                pid = server.peer_id
                await client.dial(server.addresses[0])
                await client.call(pid, "status", {}, timeout=5)
            with trio.fail_after(10):
                while pid not in lost:
                    await trio.sleep(0.05)
            assert pid not in client.connected()
            async with transport.open(self.config(tmp_path, "server", port), echo) as server:
                assert server.peer_id == pid
                reply = await client.call(pid, "status", {"back": True}, timeout=10)
                assert reply["body"] == {"back": True}

    @trio_test
    async def test_two_peers_dialling_each_other_at_once_keep_one_working_channel(
        self, transport: Transport, tmp_path: Path
    ) -> None:
        lost: list[str] = []
        async with (
            transport.open(self.config(tmp_path, "a"), echo, lost.append) as a,
            transport.open(self.config(tmp_path, "b"), echo, lost.append) as b,
        ):
            replies = {}

            async def dial_and_call(me: Peer, other: Peer) -> None:
                pid = await me.dial(other.addresses[0])
                replies[me.peer_id] = await me.call(pid, "status", {"from": me.peer_id}, timeout=5)

            for _ in range(3):  # the race goes either way; each round must end well
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(dial_and_call, a, b)
                    nursery.start_soon(dial_and_call, b, a)
                assert replies[a.peer_id]["sender"] == a.peer_id
                assert replies[b.peer_id]["sender"] == b.peer_id
                await trio.sleep(0.2)  # a retired duplicate closes once idle
                assert lost == [] and a.connected() == {b.peer_id} and b.connected() == {a.peer_id}
                again = await a.call(b.peer_id, "status", {"n": 1}, timeout=5)
                assert again["body"] == {"n": 1}
