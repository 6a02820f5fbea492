"""``qorch bench transport``: round trips and discovery for every installed transport.

Per transport, in one run (so ratios hold on a noisy machine):

* ``channel``: sequential ``call()`` round trips between two peers in this process;
* ``baseline``: the transport's bare request/response without qorch's channel
  (``baseline_round_trips``, when the transport offers it) and the ratio channel/baseline;
* ``reserve`` / ``execute``: round trips to a real ``qorch node`` process on 127.0.0.1;
* ``discovery``: ten node processes started at once against a coordinator peer — seconds
  from launch until the registry lists each (and all) available; then one node
  SIGKILLed (unavailable after how long: the disconnect path) and one SIGSTOPped (the
  TTL path), against the configured TTL and refresh interval.

Writes ``transport.json`` and ``transport.md`` under the output directory.
"""

from __future__ import annotations

import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from qorch.config import Settings
from qorch.coordinator.discovery import Discovery
from qorch.coordinator.node_registry import NodeRegistry
from qorch.node.processes import NodeProcess
from qorch.node.protocol import REGISTRY_VERBS, reserve_body
from qorch.stats import median_p95, summary, summary_ms, write_result
from qorch.transport import PeerConfig

if TYPE_CHECKING:
    from qorch.plugins import PluginSystem

TARGET_P95_MS = 5.0
TARGET_DISCOVERY_S = 3.0
LOCAL = "/ip4/127.0.0.1/tcp/0"


async def _echo(verb: str, body: dict[str, Any], sender: str) -> dict[str, Any]:
    return {"ok": True, "body": body}


async def channel_round_trips(transport: Any, n: int, tmp: Path) -> list[float]:
    """``n`` sequential ``status`` calls between two peers of ``transport`` (seconds)."""
    times: list[float] = []

    def config(name: str) -> PeerConfig:
        return PeerConfig(name, tmp / name, LOCAL, verbs=("status",))

    async with (
        transport.open(config("server"), _echo) as server,
        transport.open(config("client"), _echo) as client,
    ):
        pid = await client.dial(server.addresses[0])
        for i in range(n + 10):
            start = time.perf_counter()
            await client.call(pid, "status", {"n": i}, timeout=10)
            if i >= 10:
                times.append(time.perf_counter() - start)
    return times


async def node_round_trips(transport: Any, name: str, n: int, tmp: Path) -> dict[str, list[float]]:
    """``n`` reserve and ``n`` execute round trips to a real node process."""
    env = {"QORCH_NETWORK__TRANSPORT": name, "QORCH_NODE__QUBITS": "100000"}
    node = NodeProcess("bench-node", tmp / "node", [], env)
    times: dict[str, list[float]] = {"reserve": [], "execute": []}
    await node.start()
    try:
        config = PeerConfig("bench-client", tmp / "client", LOCAL, verbs=())
        async with transport.open(config, _echo) as client:
            pid = await client.dial(node.address)
            ops = [{"name": "h", "qubits": [0]}, {"name": "cx", "qubits": [0, 1]}]
            for i in range(n + 10):
                body = reserve_body(f"f{i}")
                start = time.perf_counter()
                reply = await client.call(pid, "reserve", body, timeout=10)
                mid = time.perf_counter()
                rid = reply["reservation"]["reservation_id"]
                execute = {"correlation": body["correlation"], "reservation_id": rid, "ops": ops}
                done = await client.call(pid, "execute", execute, timeout=10)
                end = time.perf_counter()
                if not done.get("ok"):
                    raise RuntimeError(f"execute failed: {done}")
                if i >= 10:
                    times["reserve"].append(mid - start)
                    times["execute"].append(end - mid)
    finally:
        await node.stop()
    return times


async def discovery(
    transport: Any, name: str, settings: Settings, topology: Path, tmp: Path
) -> dict[str, Any]:
    """Ten node processes join; then one is killed and one frozen (module docstring)."""
    registry = NodeRegistry(settings.network, settings.quality)
    found: dict[str, float] = {}
    disc = Discovery(registry, probe=False)
    env = {"QORCH_NETWORK__TRANSPORT": name, "QORCH_LOGGING__LEVEL": "WARNING"}
    config = PeerConfig("coordinator", tmp / "coordinator", LOCAL, verbs=REGISTRY_VERBS)

    def available() -> set[str]:
        return {e.node_id for e in registry.entries() if e.available}

    async def until(pred: Callable[[], bool], limit: float) -> float:
        start = time.monotonic()
        with trio.fail_after(limit):
            while not pred():
                await trio.sleep(0.01)
        return time.monotonic() - start

    async with (
        transport.open(config, disc, disc.on_disconnect) as peer,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(disc.run, peer, [])
        names = [f"qpu{i}" for i in range(10)]
        args = ["--topology", str(topology), "--bootstrap", peer.addresses[0]]
        nodes = {n: NodeProcess(n, tmp / n, args, env) for n in names}
        launched = time.monotonic()
        ready: dict[str, float] = {}

        async def start(node: NodeProcess) -> None:
            await node.start()
            ready[node.name] = time.monotonic() - launched

        async def watch() -> None:
            while len(found) < len(names):
                for n in available() - set(found):
                    found[n] = time.monotonic() - launched
                await trio.sleep(0.01)

        try:
            async with trio.open_nursery() as starting:
                starting.start_soon(watch)
                for node in nodes.values():
                    starting.start_soon(start, node)
            limit = settings.network.advert_ttl_s + settings.network.refresh_s + 30
            await nodes["qpu3"].stop(signal.SIGKILL)
            killed = await until(lambda: "qpu3" not in available(), limit)
            nodes["qpu7"].send_signal(signal.SIGSTOP)
            frozen = await until(lambda: "qpu7" not in available(), limit)
            nodes["qpu7"].send_signal(signal.SIGCONT)
        finally:
            for node in nodes.values():
                await node.stop()
            nursery.cancel_scope.cancel()
    per_node = list(found.values())
    after_ready = [found[n] - ready[n] for n in found]
    return {
        "nodes": len(names),
        "all_seen_s": max(per_node),
        "per_node_s": summary(per_node),
        "all_ready_s": max(ready.values()),
        "all_seen_after_all_ready_s": max(per_node) - max(ready.values()),
        "seen_after_ready_s": summary(after_ready),
        "sigkill_unavailable_s": killed,
        "sigstop_unavailable_s": frozen,
        "ttl_s": settings.network.advert_ttl_s,
        "refresh_s": settings.network.refresh_s,
        "sigstop_within_ttl_plus_refresh": frozen
        <= settings.network.advert_ttl_s + settings.network.refresh_s,
    }


def run(
    plugins: PluginSystem, out_dir: str, *, n: int, topology: Path, progress: Callable[[str], None]
) -> dict[str, Any]:
    """Measure every installed transport; write ``transport.json`` and ``transport.md``."""
    results: dict[str, Any] = {}
    for name in plugins.registry.names("transport"):
        transport = plugins.create("transport", name)
        with tempfile.TemporaryDirectory(prefix="qorch-bench-") as tmp:
            root = Path(tmp)
            progress(f"{name}: channel round trips")
            row: dict[str, Any] = {
                "channel_ms": summary_ms(trio.run(channel_round_trips, transport, n, root / "c"))
            }
            baseline = getattr(transport, "baseline_round_trips", None)
            if baseline is not None:
                row["baseline_ms"] = summary_ms(trio.run(baseline, n))
                row["ratio_p50"] = row["channel_ms"]["median"] / row["baseline_ms"]["median"]
                row["ratio_p95"] = row["channel_ms"]["p95"] / row["baseline_ms"]["p95"]
            progress(f"{name}: reserve and execute against a node process")
            node = trio.run(node_round_trips, transport, name, n, root / "n")
            row["reserve_ms"] = summary_ms(node["reserve"])
            row["execute_ms"] = summary_ms(node["execute"])
            row["meets_p95_target"] = max(row["reserve_ms"]["p95"], row["execute_ms"]["p95"]) <= (
                TARGET_P95_MS
            )
            progress(f"{name}: ten-node discovery, SIGKILL and SIGSTOP")
            row["discovery"] = trio.run(
                discovery, transport, name, plugins.settings, topology, root / "d"
            )
            d = row["discovery"]
            d["meets_target_from_launch"] = d["all_seen_s"] <= TARGET_DISCOVERY_S
            d["meets_target_from_ready"] = d["seen_after_ready_s"]["max"] <= TARGET_DISCOVERY_S
        results[name] = row
    data = {
        "round_trips": n,
        "target_p95_ms": TARGET_P95_MS,
        "target_discovery_s": TARGET_DISCOVERY_S,
        "transports": results,
    }
    path = write_result(out_dir, "transport", data)
    Path(out_dir, "transport.md").write_text(markdown(data))
    data["file"] = str(path)
    return data


def markdown(data: dict[str, Any]) -> str:
    """The results as a markdown table."""
    lines = [
        f"Round trips (ms, n = {data['round_trips']}): p50 / p95. Target: reserve and execute "
        f"p95 <= {data['target_p95_ms']} ms.",
        "",
        "| transport | channel | bare baseline | ratio p50 / p95 | reserve | execute |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in data["transports"].items():
        base = r.get("baseline_ms")
        lines.append(
            f"| {name} | {median_p95(r['channel_ms'])} | {median_p95(base) if base else '-'} | "
            + (f"{r['ratio_p50']:.2f} / {r['ratio_p95']:.2f}" if base else "-")
            + f" | {median_p95(r['reserve_ms'])} | {median_p95(r['execute_ms'])} |"
        )
    lines += [
        "",
        f"Discovery of 10 node processes launched together (target: all seen within "
        f"{data['target_discovery_s']} s), seconds:",
        "",
        "| transport | all ready | all seen | ready → seen, max | SIGKILL → unavailable | "
        "SIGSTOP → unavailable (TTL + refresh) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in data["transports"].items():
        d = r["discovery"]
        lines.append(
            f"| {name} | {d['all_ready_s']:.2f} | {d['all_seen_s']:.2f} | "
            f"{d['seen_after_ready_s']['max']:.3f} | {d['sigkill_unavailable_s']:.2f} | "
            f"{d['sigstop_unavailable_s']:.2f} ({d['ttl_s']:g} + {d['refresh_s']:g}) |"
        )
    return "\n".join(lines) + "\n"
