"""Real node processes and a coordinator-side registry (FR-001, FR-002, FR-005, FR-008).

For each installed transport: ten ``qorch node`` processes (the small-world example
topology) join a coordinator peer in this process; the registry sees all ten;
``qorch nodes --json`` lists them; the snapshot compiles a circuit; a reservation round
trip works; a SIGKILLed node turns unavailable at once (disconnect), a SIGSTOPped one
after its TTL (silence); a restarted node keeps its peer id and comes back; SIGTERM
stops every node cleanly. Rogue adverts over the wire are refused with their reason.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from qorch.compile.compiler import compile_circuit
from qorch.config import NetworkSettings, Settings
from qorch.coordinator.discovery import Discovery
from qorch.coordinator.node_registry import NodeRegistry
from qorch.node.advert import REASONS, advert_for
from qorch.node.processes import NodeProcess
from qorch.node.protocol import REGISTRY_VERBS
from qorch.plugins import PluginSystem
from qorch.testing.cluster import reserve_body
from qorch.testing.generators import corrupted_adverts
from qorch.testing.plan_checks import plan_problems
from qorch.testing.transport_contract import trio_test
from qorch.topology import topology_from_dict
from qorch.transport import PeerConfig, TransportError

REPO = Path(__file__).resolve().parents[1]
TOPOLOGY = REPO / "examples" / "topologies" / "small-world-10.toml"
NAMES = [f"qpu{i}" for i in range(10)]
TTL_S, REFRESH_S = 2.0, 0.5
TRANSPORTS = PluginSystem().registry.names("transport")


def env_for(transport: str) -> dict[str, str]:
    return {
        "QORCH_NETWORK__TRANSPORT": transport,
        "QORCH_NETWORK__ADVERT_TTL_S": str(TTL_S),
        "QORCH_NETWORK__REFRESH_S": str(REFRESH_S),
        "QORCH_LOGGING__LEVEL": "WARNING",
    }


async def until(predicate, timeout: float, what: str) -> float:
    """Wait (bounded) for ``predicate``; return how long it took."""
    start = time.monotonic()
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(0.05)
        return time.monotonic() - start
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def available(registry: NodeRegistry) -> set[str]:
    return {e.node_id for e in registry.entries() if e.available}


@pytest.mark.slow
@pytest.mark.parametrize("transport_name", TRANSPORTS)
@trio_test
async def test_ten_node_processes_are_discovered_monitored_killed_and_restarted(
    transport_name: str, tmp_path: Path
) -> None:
    settings = Settings(
        network=NetworkSettings(transport=transport_name, advert_ttl_s=TTL_S, refresh_s=REFRESH_S)
    )
    plugins = PluginSystem(settings)
    samples = []
    registry = NodeRegistry(settings.network, settings.quality, on_quality=samples.append)
    discovery = Discovery(registry)
    transport = plugins.create("transport", transport_name)
    config = PeerConfig(
        "coordinator", tmp_path / "coordinator", settings.network.listen, verbs=REGISTRY_VERBS
    )
    env = env_for(transport_name)
    async with (
        transport.open(config, discovery, discovery.on_disconnect) as peer,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(discovery.run, peer, [])
        args = ["--topology", str(TOPOLOGY), "--bootstrap", peer.addresses[0]]
        nodes = {n: NodeProcess(n, tmp_path / n, args, env) for n in NAMES}
        try:
            async with trio.open_nursery() as starting:
                for node in nodes.values():
                    starting.start_soon(node.start)
            await until(lambda: available(registry) == set(NAMES), 60, "all ten nodes")

            # an observer process sees the same ten
            observer = [sys.executable, "-m", "qorch", "nodes", "--wait", "2", "--json"]
            observed = await trio.run_process(
                [*observer, "--bootstrap", peer.addresses[0]],
                capture_stdout=True,
                capture_stderr=True,
                env={**os.environ, **env},
            )
            rows = [json.loads(line) for line in observed.stdout.decode().splitlines()]
            assert sorted(r["node"] for r in rows) == NAMES
            assert {r["availability"] for r in rows} == {"available"}
            assert all(r["peer_id"] == nodes[r["node"]].peer_id for r in rows)

            # the snapshot is a topology the compiler plans on, links included
            snapshot = registry.snapshot()
            assert len(snapshot.links) == 23
            from qorch.circuits import qft

            plan = compile_circuit(qft(12), snapshot, plugins=plugins, seed=1)
            assert plan_problems(plan, snapshot) == []

            # a reservation round trip to a discovered node (FR-005)
            target = registry.entry("qpu5").advert.peer_id
            body = reserve_body("f0", qubits=2, min_fidelity=0.9)
            reply = await peer.call(target, "reserve", body, timeout=5)
            assert reply["ok"] and reply["reservation"]["qubits"] == 2

            # the coordinator measured the nodes itself (FR-008)
            await until(lambda: any(s.metric == "rtt_ms" for s in samples), 10, "a probe")

            # SIGKILL: the connection drops, and that (not the TTL) makes it unavailable:
            # the registry says so while the node's last advert is still fresh
            victim = nodes["qpu3"]
            pid = victim.peer_id
            await victim.stop(signal.SIGKILL)
            gone: list[tuple[bool, bool]] = []

            def down(name: str, peer_id: str) -> bool:
                entry = registry.entry(name)
                if entry.available:
                    return False
                fresh = time.time() - entry.received_at <= registry.ttl(entry.advert)
                gone.append((fresh, peer_id in peer.connected()))
                return True

            await until(lambda: down("qpu3", pid), TTL_S + REFRESH_S + 5, "qpu3 down")
            assert gone[-1] == (True, False)  # fresh advert, connection gone
            assert available(registry) == set(NAMES) - {"qpu3"}

            # restarted: same peer id, back in the registry
            await victim.start()
            assert victim.peer_id == pid
            await until(lambda: "qpu3" in available(registry), 30, "qpu3 back")

            # SIGSTOP: the process is frozen, not gone. Over tcp (no pings) its advert
            # expires while it is connected; over libp2p the health pings also drop it.
            frozen = nodes["qpu7"]
            frozen.process.send_signal(signal.SIGSTOP)
            await until(lambda: down("qpu7", frozen.peer_id), TTL_S + REFRESH_S + 10, "qpu7")
            if transport_name == "tcp":
                assert gone[-1] == (False, True)  # the TTL path: expired, still connected
            else:  # whichever came first, the pings do drop a frozen peer's connection
                await until(lambda: frozen.peer_id not in peer.connected(), 30, "qpu7 dropped")
            frozen.process.send_signal(signal.SIGCONT)
            await until(lambda: "qpu7" in available(registry), 30, "qpu7 back")
        finally:
            codes = {}
            for name, node in nodes.items():
                codes[name] = await node.stop(signal.SIGTERM)
            nursery.cancel_scope.cancel()
    assert codes == dict.fromkeys(NAMES, 0), {n: nodes[n].stderr_tail() for n in NAMES}
    assert registry.rejected == {}


@pytest.mark.parametrize("transport_name", TRANSPORTS)
@trio_test
async def test_rogue_adverts_over_the_wire_are_refused_with_the_reason(
    transport_name: str, tmp_path: Path
) -> None:
    settings = Settings(network=NetworkSettings(transport=transport_name))
    plugins = PluginSystem(settings)
    registry = NodeRegistry(settings.network, settings.quality)
    discovery = Discovery(registry, probe=False)
    transport = plugins.create("transport", transport_name)
    coord = PeerConfig("coordinator", tmp_path / "c", settings.network.listen, verbs=REGISTRY_VERBS)
    rogue = PeerConfig("rogue", tmp_path / "r", settings.network.listen, verbs=())
    async with (
        transport.open(coord, discovery) as peer,
        transport.open(rogue, discovery) as attacker,
    ):
        discovery.peer = peer
        pid = await attacker.dial(peer.addresses[0])
        now = time.time()
        good = {
            "schema": "qorch.advert", "version": "1.0", "node_id": "x", "peer_id": attacker.peer_id,
            "addresses": [], "timestamp": now, "sequence": 1, "ttl_s": 10, "service_type": "s",
            "availability": "available", "qubit_range": [1, 2], "services": {"cx": 0.99},
        }  # fmt: skip
        cases = {
            "version": {**good, "version": "9.0"},
            "stale": {**good, "timestamp": now - 3600},
            "identity": {**good, "peer_id": "somebody-else"},
            "schema": {**good, "qubit_range": "all"},
        }
        for reason, body in cases.items():
            reply = await attacker.call(pid, "announce", body, timeout=5)
            assert reply["ok"] is False and reply["error"]["reason"] == reason
        assert registry.entries() == [] and sum(registry.rejected.values()) == 4
        assert (await attacker.call(pid, "announce", good, timeout=5))["ok"]
        assert [e.node_id for e in registry.entries()] == ["x"]
        # fidelity reports (FR-008): only about one's own node, validated, then they count
        low = {"node_id": "x", "fidelity": 0.5, "timestamp": now}
        assert (await attacker.call(pid, "report", low, timeout=5))["ok"]
        assert registry.entry("x").reasons == ("fidelity 0.5 < 0.9",)
        other = await attacker.call(pid, "report", {**low, "node_id": "y"}, timeout=5)
        assert other["error"]["code"] == "not_found"
        bad = await attacker.call(pid, "report", {**low, "fidelity": 2}, timeout=5)
        assert bad["error"] == {
            "code": "bad_request",
            "message": "fidelity = 2: expected a number in [0, 1]",
            "where": "fidelity",
        }


PLACEHOLDER_PEER = "<peer>"


@settings(max_examples=5, deadline=None)
@given(
    st.lists(
        corrupted_adverts(
            {
                **advert_for(
                    topology_from_dict(
                        {"nodes": [{"name": "x", "qubits": 2, "gates": {"cx": 0.99}}]}
                    ).nodes[0],
                    peer_id=PLACEHOLDER_PEER,
                    timestamp=0.0,
                    sequence=1,
                    ttl_s=10.0,
                ).to_dict()
            }
        ).filter(lambda a: isinstance(a, dict)),
        min_size=5,
        max_size=25,
    )
)
def test_fuzzed_adverts_over_libp2p_never_reach_the_registry_unless_valid(adverts):
    """Hypothesis-made adverts sent by a real libp2p host to a real coordinator host."""
    if "libp2p" not in TRANSPORTS:
        pytest.skip("the libp2p transport is not installed")
    import tempfile

    async def scenario(tmp: Path) -> None:
        settings = Settings()
        registry = NodeRegistry(settings.network, settings.quality)
        discovery = Discovery(registry, probe=False)
        transport = PluginSystem(settings).create("transport", "libp2p")
        listen = settings.network.listen
        coord = PeerConfig("coordinator", tmp / "c", listen, verbs=REGISTRY_VERBS)
        async with (
            transport.open(coord, discovery) as peer,
            transport.open(PeerConfig("fuzzer", tmp / "f", listen), discovery) as fuzzer,
        ):
            pid = await fuzzer.dial(peer.addresses[0])
            now = time.time()
            accepted = unsent = 0
            for body in adverts:
                if body.get("peer_id") == PLACEHOLDER_PEER:
                    body = {**body, "peer_id": fuzzer.peer_id}
                if body.get("timestamp") == 0.0:
                    body = {**body, "timestamp": now}
                before = [e.advert for e in registry.entries()]
                try:
                    reply = await fuzzer.call(pid, "announce", body, timeout=5)
                except TransportError as exc:  # e.g. Infinity: not JSON, never sent
                    assert exc.code == "protocol"
                    unsent += 1
                    continue
                if reply["ok"]:
                    accepted += 1
                    assert registry.entry("x").advert.peer_id == fuzzer.peer_id
                else:
                    assert reply["error"]["code"] == "advert_rejected"
                    assert reply["error"]["reason"] in REASONS
                    assert [e.advert for e in registry.entries()] == before
            assert sum(registry.rejected.values()) == len(adverts) - accepted - unsent
            assert registry.accepted == accepted

    with tempfile.TemporaryDirectory() as tmp:
        trio.run(scenario, Path(tmp))
