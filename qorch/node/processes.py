"""Node child processes (FR-001): start ``qorch node``, wait for ready, stop or kill.

Used by ``qorch run`` (an embedded local cluster), the benchmarks and the integration
tests; :func:`apply_drops` plays a fault schedule's node drops on them (FR-013). Each
node is a ``qorch node`` child process on 127.0.0.1 (or inside a network namespace
when ``prefix`` is e.g. ``["ip", "netns", "exec", "ns1"]``) whose stdout is read until
its ``ready <multiaddr>`` line. Every wait is bounded. A node never outlives the process
that started it: it holds the read end of a pipe whose write end only this process has
(:mod:`qorch.node.watchdog`), so if this process dies — even by SIGKILL — its nodes stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import trio

from qorch.faults import FaultEvent, FaultSchedule
from qorch.node.watchdog import parent_pipe, parent_pipe_args

READY_TIMEOUT_S = 60.0


class NodeProcess:
    """One ``qorch node`` process."""

    def __init__(
        self,
        name: str,
        data_dir: Path,
        args: list[str],
        env: dict[str, str],
        prefix: list[str] | None = None,
    ) -> None:
        self.name = name
        self.data_dir = data_dir
        self.args = args
        self.env = env
        self.prefix = prefix or []
        self.process: trio.Process | None = None
        self.address = ""
        self.stderr_path = data_dir.with_suffix(".stderr")
        self._lifeline: int | None = None  # the write end of the node's parent pipe

    @property
    def peer_id(self) -> str:
        """The peer id in the ready address."""
        return self.address.rsplit("/p2p/", 1)[1]

    async def start(self) -> str:
        """Start it and return its address once it prints ``ready``."""
        self._close_lifeline()  # a restarted node gets a new pipe
        read_end, self._lifeline = parent_pipe()
        cmd = [*self.prefix, sys.executable, "-m", "qorch", "node", *self.args]
        cmd += ["--name", self.name, "--data-dir", str(self.data_dir)]
        cmd += parent_pipe_args(read_end)
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        stderr = self.stderr_path.open("ab")
        try:
            self.process = await trio.lowlevel.open_process(
                cmd,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env={**os.environ, **self.env},
                pass_fds=(read_end,),
            )
        finally:
            stderr.close()
            os.close(read_end)  # the child has its copy; the write end stays here
        line = await first_line(self.process, lambda: f"{self.name}: {self.stderr_tail()}")
        if not line.startswith("ready "):
            raise RuntimeError(f"{self.name} printed {line!r}, not 'ready ...'")
        self.address = line.split(" ", 1)[1].strip()
        return self.address

    def send_signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` if it is running (SIGHUP: reload its fault schedule)."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(sig)

    def stderr_tail(self, lines: int = 20) -> str:
        """The last lines the process wrote to stderr."""
        if not self.stderr_path.exists():
            return ""
        return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-lines:])

    async def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        """Send ``sig`` and wait (bounded) for the exit status; SIGKILL if it lingers."""
        if self.process is None:
            return None
        await stop_process(self.process, sig, timeout)
        self._close_lifeline()
        return self.process.returncode

    def _close_lifeline(self) -> None:
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None


async def first_line(process: trio.Process, who: Callable[[], str]) -> str:
    """The first line ``process`` prints on stdout (its ready line), within
    :data:`READY_TIMEOUT_S`; ``RuntimeError`` naming ``who()`` if it exits first."""
    assert process.stdout is not None
    buf = b""
    with trio.fail_after(READY_TIMEOUT_S):
        while b"\n" not in buf:
            chunk = await process.stdout.receive_some(4096)
            if not chunk:
                raise RuntimeError(f"exited before ready: {who()}")
            buf += chunk
    return buf.split(b"\n", 1)[0].decode()


async def stop_process(process: trio.Process, sig: signal.Signals, timeout: float) -> None:
    """Send ``sig`` (if it still runs) and wait, bounded; SIGKILL if it lingers."""
    if process.returncode is None:
        process.send_signal(sig)
    with trio.move_on_after(timeout):
        await process.wait()
    if process.returncode is None:
        process.kill()
        await process.wait()
    if process.stdout is not None:
        await process.stdout.aclose()


async def apply_drops(schedule: FaultSchedule, nodes: dict[str, NodeProcess]) -> None:
    """Kill (SIGKILL) each node a ``drop`` event names at its time after the schedule's
    epoch, and start it again ``duration_s`` later when that is positive (same data
    directory: same identity and peer id). Returns once the last restart is done."""
    epoch = schedule.epoch
    assert epoch is not None, "the schedule has not started"
    drops = [e for e in schedule.events if e.kind == "drop" and e.node in nodes]

    async def one(event: FaultEvent) -> None:
        node = nodes[event.node]
        await trio.sleep(max(0.0, epoch + event.start_s - time.time()))
        await node.stop(signal.SIGKILL)
        if event.duration_s > 0:
            await trio.sleep(event.duration_s)
            await node.start()

    async with trio.open_nursery() as nursery:
        for event in drops:
            nursery.start_soon(one, event)
