"""libp2p-specific behaviour of the ``libp2p`` transport (the contract is tested elsewhere).

Identity from a saved key, Noise only (a plaintext dialer is refused), the ``/p2p/<id>``
of a dial address is checked, calls both ways over one channel, and a peer that dies
or freezes (a separate process, SIGKILL / SIGSTOP) is noticed.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
import trio
from libp2p import new_host
from libp2p.custom_types import TProtocol
from libp2p.identity_utils import load_identity
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
from multiaddr import Multiaddr
from qorch_libp2p.host import KEY_FILE, build_host, load_key_pair
from qorch_libp2p.transport import PROTOCOL_ID, Libp2pTransport

from qorch.testing.transport_contract import VERBS, echo, trio_test
from qorch.transport import PeerConfig, TransportError

LOCAL = "/ip4/127.0.0.1/tcp/0"


def config(tmp: Path, name: str) -> PeerConfig:
    return PeerConfig(name, tmp / name, LOCAL, 65_536, verbs=VERBS)


@trio_test
async def test_the_peer_id_is_derived_from_the_key_in_the_identity_dir(tmp_path: Path) -> None:
    async with Libp2pTransport().open(config(tmp_path, "node"), echo) as peer:
        pid = peer.peer_id
        assert peer.addresses[0].startswith("/ip4/127.0.0.1/tcp/")
        assert peer.addresses[0].endswith(f"/p2p/{pid}")
    key_file = tmp_path / "node" / KEY_FILE
    assert key_file.exists() and key_file.stat().st_mode & 0o077 == 0
    assert pid.startswith("12D3KooW")  # an Ed25519 peer id
    assert str(ID.from_pubkey(load_identity(key_file).public_key)) == pid
    assert load_key_pair(tmp_path / "node").public_key == load_identity(key_file).public_key


@trio_test
async def test_a_plaintext_only_dialer_is_refused(tmp_path: Path) -> None:
    async with Libp2pTransport().open(config(tmp_path, "server"), echo) as server:
        info = info_from_p2p_addr(Multiaddr(server.addresses[0]))
        key_pair = load_key_pair(tmp_path / "plain")
        plain = new_host(
            key_pair=key_pair,
            sec_opt={TProtocol(PLAINTEXT_PROTOCOL_ID): InsecureTransport(key_pair)},
        )
        async with plain.run(listen_addrs=[Multiaddr(LOCAL)]):
            with pytest.raises(Exception), trio.fail_after(15):  # noqa: B017 any failure
                await plain.connect(info)
                await plain.new_stream(info.peer_id, [PROTOCOL_ID])
            assert server.connected() == set()
            await plain.close()

        # The same dial with Noise works: the refusal above is about security only.
        noise = build_host(load_key_pair(tmp_path / "noise"))
        async with noise.run(listen_addrs=[Multiaddr(LOCAL)]):
            await noise.connect(info)
            stream = await noise.new_stream(info.peer_id, [PROTOCOL_ID])
            await stream.reset()
            await noise.close()


@trio_test
async def test_a_wrong_peer_id_in_the_dial_address_is_refused(tmp_path: Path) -> None:
    transport = Libp2pTransport()
    async with (
        transport.open(config(tmp_path, "server"), echo) as server,
        transport.open(config(tmp_path, "other"), echo) as other,
        transport.open(config(tmp_path, "client"), echo) as client,
    ):
        tcp_part = server.addresses[0].rsplit("/p2p/", 1)[0]
        with pytest.raises(TransportError) as info:
            await client.dial(f"{tcp_part}/p2p/{other.peer_id}")
        assert info.value.code == "unreachable"
        assert client.connected() == set()
        for bad in ("/ip4/127.0.0.1/tcp/1", "not a multiaddr", f"{tcp_part}/p2p/xyz"):
            with pytest.raises(TransportError) as info:
                await client.dial(bad)
            assert info.value.code == "unreachable"
        # ... and the right one still works afterwards (no negative dial cache).
        assert await client.dial(server.addresses[0]) == server.peer_id


@trio_test
async def test_calls_go_both_ways_over_the_dialled_channel(tmp_path: Path) -> None:
    transport = Libp2pTransport()
    async with (
        transport.open(config(tmp_path, "server"), echo) as server,
        transport.open(config(tmp_path, "client"), echo) as client,
    ):
        await client.dial(server.addresses[0])
        reply = await client.call(server.peer_id, "status", {"n": 1}, timeout=5)
        assert reply["sender"] == client.peer_id
        with trio.fail_after(5):
            while client.peer_id not in server.connected():
                await trio.sleep(0.01)
        back = await server.call(client.peer_id, "announce", {"n": 2}, timeout=5)
        assert back == {"ok": True, "verb": "announce", "body": {"n": 2}, "sender": server.peer_id}
        big = await client.call(server.peer_id, "status", {"reply_bytes": 60_000}, timeout=5)
        assert len(big["blob"]) == 60_000  # over one 64 KiB-ish yamux/Noise frame with JSON


SERVER_SCRIPT = """
import sys, trio
from pathlib import Path
from qorch.testing.transport_contract import VERBS, echo
from qorch.transport import PeerConfig
from qorch_libp2p.transport import Libp2pTransport

async def main():
    cfg = PeerConfig("server", Path(sys.argv[1]), "/ip4/127.0.0.1/tcp/0", 65536, verbs=VERBS)
    async with Libp2pTransport().open(cfg, echo) as peer:
        print(peer.addresses[0], flush=True)
        await trio.sleep_forever()

trio.run(main)
"""


async def _start_server(tmp: Path) -> tuple[trio.Process, str]:
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-c", SERVER_SCRIPT, str(tmp / "remote")], stdout=-1
    )
    assert proc.stdout is not None
    line = b""
    with trio.fail_after(30):
        while not line.endswith(b"\n"):
            chunk = await proc.stdout.receive_some(4096)
            assert chunk, "the server process exited"
            line += chunk
    return proc, line.decode().strip()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill", "freeze"])
@trio_test
async def test_a_dead_or_frozen_peer_is_noticed(tmp_path: Path, how: str) -> None:
    proc, address = await _start_server(tmp_path)
    lost: list[str] = []
    try:
        async with Libp2pTransport().open(config(tmp_path, "client"), echo, lost.append) as client:
            pid = await client.dial(address)
            await client.call(pid, "status", {}, timeout=5)
            await trio.sleep(1.5)  # past the health monitor's warm-up window
            os.kill(proc.pid, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
            start = trio.current_time()
            with trio.fail_after(10):
                while pid not in lost:
                    await trio.sleep(0.05)
            took = trio.current_time() - start
            assert pid not in client.connected()
            assert took < (2.0 if how == "kill" else 8.0), took
            with pytest.raises(TransportError) as info:
                await client.call(pid, "status", {}, timeout=2)
            assert info.value.code in ("unreachable", "timeout")
    finally:
        proc.kill()
        with trio.CancelScope(shield=True):
            await proc.wait()
