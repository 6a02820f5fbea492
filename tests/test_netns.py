"""Nodes behind their own network namespaces (FR-002, FR-005): the separate-machines path.

The test builds a bridge with an address in a private /24 and two network namespaces,
each joined to the bridge by a veth pair and holding its own address; a ``qorch node``
process runs inside each namespace (``ip netns exec``), the coordinator peer in this
process listens on the bridge address. The coordinator discovers both nodes and
reserves on them across the namespace boundary. Everything is removed afterwards.
Skipped with the reason where the kernel or the user may not create namespaces.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import trio

from qorch.config import NetworkSettings, Settings
from qorch.coordinator.discovery import Discovery
from qorch.coordinator.node_registry import NodeRegistry
from qorch.node.processes import NodeProcess
from qorch.node.protocol import REGISTRY_VERBS
from qorch.plugins import PluginSystem
from qorch.testing.cluster import reserve_body
from qorch.testing.transport_contract import trio_test
from qorch.transport import PeerConfig

TAG = os.getpid() % 10_000
SUBNET = f"10.231.{os.getpid() % 200 + 20}"
BRIDGE = f"qbr{TAG}"
NAMESPACES = [f"qns{TAG}a", f"qns{TAG}b"]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _cleanup() -> None:
    for ns in NAMESPACES:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, timeout=10)


@pytest.fixture
def namespaces():
    """Two namespaces on a bridge: yields (bridge address, [(namespace, address)])."""
    if shutil.which("ip") is None:
        pytest.skip("the `ip` tool (iproute2) is not installed")
    if os.geteuid() != 0:
        pytest.skip("creating network namespaces needs root (CAP_NET_ADMIN)")
    try:
        ip("link", "add", BRIDGE, "type", "bridge")
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"the kernel refused a bridge: {exc.stderr.decode().strip()}")
    try:
        ip("addr", "add", f"{SUBNET}.1/24", "dev", BRIDGE)
        ip("link", "set", BRIDGE, "up")
        placed = []
        for i, ns in enumerate(NAMESPACES):
            host_end, ns_end = f"qv{TAG}{i}h", f"qv{TAG}{i}n"
            ip("netns", "add", ns)
            ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
            ip("link", "set", host_end, "master", BRIDGE)
            ip("link", "set", host_end, "up")
            ip("link", "set", ns_end, "netns", ns)
            ip("-n", ns, "addr", "add", f"{SUBNET}.{i + 2}/24", "dev", ns_end)
            ip("-n", ns, "link", "set", ns_end, "up")
            ip("-n", ns, "link", "set", "lo", "up")
            placed.append((ns, f"{SUBNET}.{i + 2}"))
        yield f"{SUBNET}.1", placed
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"namespace set-up refused: {exc.stderr.decode().strip()}")
    finally:
        _cleanup()


@pytest.mark.slow
@pytest.mark.parametrize("transport_name", PluginSystem().registry.names("transport"))
@trio_test
async def test_nodes_in_their_own_namespaces_are_discovered_and_reserved_on(
    namespaces, transport_name: str, tmp_path: Path
) -> None:
    bridge, placed = namespaces
    net = NetworkSettings(transport=transport_name, listen=f"/ip4/{bridge}/tcp/0")
    settings = Settings(network=net)
    registry = NodeRegistry(settings.network, settings.quality)
    discovery = Discovery(registry)
    transport = PluginSystem(settings).create("transport", transport_name)
    config = PeerConfig("coordinator", tmp_path / "coordinator", net.listen, verbs=REGISTRY_VERBS)
    env = {"QORCH_NETWORK__TRANSPORT": transport_name, "QORCH_NETWORK__REFRESH_S": "0.5"}
    async with (
        transport.open(config, discovery, discovery.on_disconnect) as peer,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(discovery.run, peer, [])
        assert peer.addresses[0].startswith(f"/ip4/{bridge}/")
        nodes = []
        for i, (ns, address) in enumerate(placed):
            args = ["--listen", f"/ip4/{address}/tcp/0", "--bootstrap", peer.addresses[0]]
            prefix = ["ip", "netns", "exec", ns]
            nodes.append(NodeProcess(f"ns-node{i}", tmp_path / f"n{i}", args, env, prefix))
        try:
            for node, (_ns, address) in zip(nodes, placed, strict=True):
                assert (await node.start()).startswith(f"/ip4/{address}/")
            with trio.fail_after(30):
                while len([e for e in registry.entries() if e.available]) < 2:
                    await trio.sleep(0.05)
            for node in nodes:
                entry = registry.entry(node.name)
                assert entry is not None and entry.advert.peer_id == node.peer_id
                body = reserve_body(node.name)
                reply = await peer.call(node.peer_id, "reserve", body, timeout=10)
                assert reply["ok"], reply
        finally:
            codes = [await node.stop(signal.SIGTERM) for node in nodes]
            nursery.cancel_scope.cancel()
    assert codes == [0, 0], [n.stderr_tail() for n in nodes]
