"""A ``qorch up`` / ``qorch coordinator`` child process, for the benchmarks and the
integration tests (FR-009).

:class:`CoordinatorProcess` starts the command, waits for its ``ready`` line and offers a
small synchronous client of the job API (httpx) with bounded waits.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from qorch.node.watchdog import parent_pipe, parent_pipe_args

READY_TIMEOUT_S = 120.0
#: the write ends of the parent pipes of the nodes :func:`start_node_process` started:
#: open while this process lives, so those nodes stop when it ends (issue 18)
_LIFELINES: list[int] = []


def start_node_process(
    topology: Path, name: str, data: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """A ``qorch node`` process for topology entry ``name``; it and its ready address.
    It stops by itself when this process ends (:mod:`qorch.node.watchdog`)."""
    cmd = [sys.executable, "-m", "qorch", "node", "--topology", str(topology), "--name", name]
    read_end, write_end = parent_pipe()
    _LIFELINES.append(write_end)
    try:
        proc = subprocess.Popen(
            [*cmd, "--data-dir", str(data), *parent_pipe_args(read_end)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "QORCH_LOGGING__LEVEL": "WARNING", **(env or {})},
            pass_fds=(read_end,),
        )
    finally:
        os.close(read_end)
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(READY_TIMEOUT_S):
            proc.kill()
            raise RuntimeError(f"node {name} not ready")
    line = proc.stdout.readline().decode()
    if not line.startswith("ready "):
        raise RuntimeError(f"node {name} printed {line!r}, not 'ready ...'")
    return proc, line.split(" ", 1)[1].strip()


class CoordinatorProcess:
    """One coordinator child process and a client of its API."""

    def __init__(self, args: list[str], data_dir: Path, env: dict[str, str] | None = None):
        self.args = args
        self.data_dir = data_dir
        self.env = {**os.environ, "QORCH_LOGGING__LEVEL": "WARNING", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.peer = ""
        self.stderr_path = data_dir.with_suffix(".coordinator.stderr")
        self.client = httpx.Client(timeout=30.0)  # one keep-alive connection, as a client would

    def start(self) -> CoordinatorProcess:
        """Start it; return once it printed ``ready`` (raises with its stderr if it died)."""
        cmd = [sys.executable, "-m", "qorch", *self.args, "--port", "0"]
        cmd += ["--data-dir", str(self.data_dir)]
        stderr = self.stderr_path.open("ab")
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, env=self.env)
        stderr.close()
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.process.stdout, selectors.EVENT_READ)
            if not sel.select(READY_TIMEOUT_S):
                self.kill()
                raise RuntimeError(f"coordinator not ready: {self.stderr_tail()}")
        line = self.process.stdout.readline().decode()
        if not line:
            raise RuntimeError(f"coordinator exited before ready: {self.stderr_tail()}")
        ready = json.loads(line)
        self.url, self.peer = ready["url"], ready["peer"]
        return self

    def stderr_tail(self, lines: int = 30) -> str:
        """The last lines of its stderr."""
        if not self.stderr_path.exists():
            return ""
        return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 30.0) -> int | None:
        """Send ``sig`` and wait for the exit status."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout)

    # -- the API -------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """One API request."""
        return self.client.request(method, self.url + path, json=body)

    def wait_for_nodes(self, count: int, timeout: float = 60.0) -> None:
        """Poll ``/health`` until ``count`` nodes are available (bounded)."""
        end = time.monotonic() + timeout
        while self.request("GET", "/health").json()["nodes"] < count:
            if time.monotonic() > end:
                raise AssertionError(f"fewer than {count} nodes after {timeout} s")
            time.sleep(0.1)

    def submit(self, qasm: str, **fields: Any) -> str:
        """Submit a circuit; its job id (asserts the 202)."""
        reply = self.request("POST", "/api/v1/circuits/submit", {"qasm": qasm, **fields})
        assert reply.status_code == 202, reply.text
        return reply.json()["job_id"]

    def wait(self, job_ids: list[str], timeout: float = 120.0) -> dict[str, dict[str, Any]]:
        """Poll until every job ended (bounded); their last status by id. One listing
        request per poll (``GET /api/v1/jobs``, paged), not one request per job, so the
        waiting adds little load to the coordinator it measures."""
        end = time.monotonic() + timeout
        pending = set(job_ids)
        out: dict[str, dict[str, Any]] = {}
        while pending:
            if time.monotonic() > end:
                raise AssertionError(f"jobs still running after {timeout} s: {sorted(pending)}")
            for status in self._all_jobs():
                if status["job_id"] in pending and status["state"] in ("COMPLETED", "FAILED"):
                    out[status["job_id"]] = status
                    pending.discard(status["job_id"])
            time.sleep(0.1)
        return out

    def _all_jobs(self, page: int = 1000) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = []
        while True:
            listing = self.request("GET", f"/api/v1/jobs?limit={page}&offset={len(jobs)}").json()
            jobs.extend(listing["jobs"])
            if len(jobs) >= listing["total"] or not listing["jobs"]:
                return jobs


def create_api_key(data_dir: Path, name: str, roles: str) -> str:
    """A new API key made with ``qorch keys create`` in ``data_dir`` (FR-014); the key."""
    command = [sys.executable, "-m", "qorch", "keys", "create", name, "--roles", roles]
    out = subprocess.run(
        [*command, "--json", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)["key"]
