"""One harness group's cluster as separate processes (issue 17): nodes and a coordinator.

The harness starts every ``qorch node`` process itself and the coordinator as a process
of its own (``qorch coordinator``), never the nodes' parent, so that a coordinator crash
leaves the nodes running. Under an orchestration that discovers its nodes by adverts
(``distributed``) the coordinator starts first, on a fixed peer address, and the nodes
bootstrap to it; under a static inventory (``centralized``) the nodes start first and
the harness writes the inventory — the topology with each node's ``address`` — that the
coordinator is started with (``--inventory``). Either way a restarted coordinator comes
back on the same data directory (its store: it resumes the jobs in flight), peer
address and identity.

The harness submits over HTTP and waits for each job, retrying while the coordinator is
down. The scenario's node faults start when the cluster is up (the schedule's epoch,
as with :func:`~qorch.coordinator.local_cluster.local_cluster`); a ``coordinator-crash``
starts counting at the group's first submission: :meth:`ProcessCluster.play_crashes`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio

from qorch.config import to_toml
from qorch.faults import FaultEvent, FaultSchedule
from qorch.interfaces import Plugins
from qorch.node.processes import NodeProcess, apply_drops, first_line, stop_process
from qorch.topology import load_topology

READY_TIMEOUT_S = 120.0
#: how long a job waits in all, over coordinator restarts, before the harness gives up
JOB_TIMEOUT_S = 300.0
POLL_S = 0.05


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the coordinator's peer keeps it across restarts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_inventory(topology: Path, addresses: dict[str, str], path: Path) -> Path:
    """The topology file ``topology`` with each node's ``address`` (a hub's inventory)."""
    data = tomllib.loads(topology.read_text())
    data["nodes"] = [
        {**n, "address": addresses[n["name"]]} if n.get("name") in addresses else n
        for n in data.get("nodes", [])
    ]
    path.write_text(to_toml(data))
    return path


@attrs.define
class CoordinatorChild:
    """The group's coordinator process: ``qorch coordinator ARGS`` on ``data_dir``."""

    args: list[str]
    data_dir: Path
    env: dict[str, str]
    process: trio.Process | None = None
    url: str = ""
    peer: str = ""  # its peer's address (nodes bootstrap to it)

    async def start(self) -> None:
        """Start it; return once it printed its ready line (its API's URL)."""
        cmd = [sys.executable, "-m", "qorch", "coordinator", *self.args, "--port", "0"]
        cmd += ["--data-dir", str(self.data_dir)]
        with (self.data_dir.parent / "coordinator.stderr").open("ab") as stderr:
            self.process = await trio.lowlevel.open_process(
                cmd, stdout=subprocess.PIPE, stderr=stderr, env={**os.environ, **self.env}
            )
        ready = json.loads(await first_line(self.process, lambda: "the coordinator"))
        self.url, self.peer = ready["url"], ready["peer"]

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Send ``sig`` and wait for it to exit (killed if it takes long)."""
        if self.process is not None:
            await stop_process(self.process, sig, 15.0)


@attrs.define
class ProcessCluster:
    """A running group cluster (see the module docstring)."""

    coordinator: CoordinatorChild
    nodes: dict[str, NodeProcess]
    http: httpx.AsyncClient
    restarts: int = 0
    first_submission: trio.Event = attrs.field(factory=trio.Event)

    async def submit_and_wait(self, body: dict[str, Any]) -> dict[str, Any]:
        """Submit one job and wait for its end; its result, or its failure as
        ``{"error": {...}}``. Retries while the coordinator is down or restarting."""
        reply = await self._request("POST", "/api/v1/circuits/submit", json=body)
        if reply.status_code != 202:
            return {"error": {"kind": "rejected", "message": reply.text[:500]}}
        job_id = reply.json()["job_id"]
        self.first_submission.set()
        with trio.fail_after(JOB_TIMEOUT_S):
            while True:
                reply = await self._request("GET", f"/api/v1/jobs/{job_id}/result")
                if reply.status_code == 200:
                    return dict(reply.json())
                body = reply.json()
                if body.get("kind") != "not_ready":
                    error = body.get("error") or {"kind": body.get("kind"), "message": ""}
                    return {"error": error}
                await trio.sleep(POLL_S)

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call, asked again (every :data:`POLL_S`) while the coordinator does
        not answer: it may be down (a crash) or starting again."""
        while True:
            try:
                return await self.http.request(method, self.coordinator.url + path, **kwargs)
            except httpx.TransportError:
                await trio.sleep(POLL_S)

    async def play_crashes(self, schedule: FaultSchedule) -> None:
        """Kill the coordinator (SIGKILL) at each ``coordinator-crash`` event's time after
        the first submission, and start it again ``duration_s`` later."""
        crashes = sorted((e for e in schedule.events if e.kind == "coordinator-crash"), key=_start)
        if not crashes:
            return
        await self.first_submission.wait()
        began = time.time()
        for event in crashes:
            await trio.sleep(max(0.0, began + event.start_s - time.time()))
            await self.coordinator.stop(signal.SIGKILL)
            await trio.sleep(event.duration_s)
            await self.coordinator.start()
            self.restarts += 1


def _start(event: FaultEvent) -> float:
    return event.start_s


async def _wait_for_nodes(cluster: ProcessCluster, count: int) -> None:
    with trio.fail_after(READY_TIMEOUT_S):
        while True:
            reply = await cluster._request("GET", "/health")  # 503 until a node is there
            if reply.json().get("nodes", 0) >= count:
                return
            await trio.sleep(0.1)


@asynccontextmanager
async def process_cluster(
    topology: Path, plugins: Plugins, data_dir: Path, faults: FaultSchedule | None = None
) -> AsyncIterator[ProcessCluster]:
    """Start the group's nodes and coordinator (module docstring); yield once the
    coordinator lists every node; stop every process on exit."""
    settings = plugins.settings
    env = {
        "QORCH_NETWORK__TRANSPORT": settings.network.transport,
        "QORCH_RUNTIME__ORCHESTRATION": settings.runtime.orchestration,
        "QORCH_LOGGING__LEVEL": "WARNING",
    }
    names = [n.name for n in load_topology(topology).nodes]
    static = plugins.create("orchestration").discovery == "static"
    node_args = ["--topology", str(topology)]
    path = None
    if faults is not None:
        path = data_dir / "faults.json"
        attrs.evolve(faults, epoch=None).write(path)  # nothing happens yet
        node_args += ["--faults", str(path)]
    coordinator = CoordinatorChild([], data_dir / "coordinator", env)
    nodes = {n: NodeProcess(n, data_dir / "nodes" / n, list(node_args), env) for n in names}
    async with httpx.AsyncClient(timeout=30.0) as http, trio.open_nursery() as background:
        cluster = ProcessCluster(coordinator, nodes, http)
        try:
            await _start_processes(cluster, topology, data_dir, static)
            await _wait_for_nodes(cluster, len(names))
            if faults is not None and path is not None:
                schedule = faults.starting_at(time.time())
                schedule.write(path)
                for node in nodes.values():
                    node.send_signal(signal.SIGHUP)
                background.start_soon(apply_drops, schedule, nodes)
                background.start_soon(cluster.play_crashes, schedule)
            yield cluster
        finally:
            background.cancel_scope.cancel()
            with trio.CancelScope(shield=True):
                await coordinator.stop()
                for node in nodes.values():
                    await node.stop()


async def _start_processes(
    cluster: ProcessCluster, topology: Path, data_dir: Path, static: bool
) -> None:
    """Coordinator first and nodes bootstrapped to it, or nodes first and the coordinator
    with their inventory (module docstring)."""
    if static:
        async with trio.open_nursery() as starting:
            for node in cluster.nodes.values():
                starting.start_soon(node.start)
        located = {n: node.address for n, node in cluster.nodes.items()}
        inventory = write_inventory(topology, located, data_dir / "inventory.toml")
        cluster.coordinator.args = ["--inventory", str(inventory)]
        await cluster.coordinator.start()
        return
    listen = f"/ip4/127.0.0.1/tcp/{free_port()}"
    cluster.coordinator.args = ["--listen", listen]
    await cluster.coordinator.start()
    async with trio.open_nursery() as starting:
        for node in cluster.nodes.values():
            node.args += ["--bootstrap", cluster.coordinator.peer]
            starting.start_soon(node.start)
