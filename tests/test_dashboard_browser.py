"""The dashboard (issue 6 item 4) in a real headless Chromium against a real coordinator:
``qorch up`` on two node processes with ``api.auth_required`` on, the page opened as
``/?api_key=<key>``, driven over the Chrome DevTools Protocol (trio-websocket).

A read-only key sees the node registry but its submit is refused with a visible 403; a
``read,submit`` key submits a 10-qubit GHZ circuit from the form and the page follows
the job live (``/api/v1/events``) until its detail shows COMPLETED with the fragment
timeline, the fidelities and the counts histogram. A screenshot is saved under tmp_path
and, when ``QORCH_SCREENSHOT_DIR`` is set, there too.

Skipped when no ``chromium`` / ``chromium-browser`` is installed (``make test`` installs
Debian's ``chromium`` when apt-get is there).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from qorch.testing.coordinator_process import CoordinatorProcess, create_api_key
from tests.conftest import REPO

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TOPOLOGY = REPO / "examples" / "topologies" / "two-nodes.toml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# taken out of the environment at import: qorch reads every QORCH_* variable as a setting
# and refuses an unknown one, so a `qorch` child (keys, up) would exit 2 with it set (and
# conftest.py's autouse fixture clears QORCH_* before each test anyway)
SCREENSHOT_DIR = os.environ.pop("QORCH_SCREENSHOT_DIR", None)
# 10 qubits: more than one 8-qubit node holds, so the plan spans both
GHZ10 = "\n".join(
    [
        "OPENQASM 2.0;",
        'include "qelib1.inc";',
        "qreg q[10];",
        "creg c[10];",
        "h q[0];",
        *(f"cx q[{i}],q[{i + 1}];" for i in range(9)),
        "measure q -> c;",
    ]
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no chromium or chromium-browser on PATH (apt-get install chromium)",
    ),
]


class Browser:
    """A headless Chromium process and the DevTools websocket URL of its first page."""

    def __init__(self, profile: Path, log: Path) -> None:
        self.profile = profile
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> str:
        flags = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--metrics-recording-only",
            "--remote-debugging-port=0",
            "--window-size=1280,1400",
            f"--user-data-dir={self.profile}",
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(CHROMIUM), *flags, "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        active = self.profile / "DevToolsActivePort"
        end = time.monotonic() + timeout
        while not (active.exists() and len(active.read_text().splitlines()) >= 2):
            if self.process.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"chromium did not start: {self.log_tail()}")
            time.sleep(0.1)
        port = int(active.read_text().splitlines()[0])
        while True:  # the page target of about:blank
            try:
                targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except httpx.HTTPError:
                pass
            if time.monotonic() > end:
                raise RuntimeError(f"chromium shows no page target: {self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        if self.process is None:
            return
        self.process.terminate()  # a clean exit reaps its helper processes
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        with contextlib.suppress(ProcessLookupError):  # its session: any helper left
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        for pid in self._stragglers():  # any that left the session, by this profile's path
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _stragglers(self) -> list[int]:
        marker = f"--user-data-dir={self.profile}".encode()
        pids = []
        for entry in Path("/proc").glob("[0-9]*"):
            with contextlib.suppress(OSError):
                if marker in (entry / "cmdline").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
        return pids


class Page:
    """The Chrome DevTools Protocol over one page's websocket: commands and their replies;
    of the events read past, only the page's uncaught JS exceptions are kept."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.exceptions: list[str] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        call = next(self.ids)
        await self.ws.send_message(json.dumps({"id": call, "method": method, "params": params}))
        with trio.fail_after(60):
            while True:
                reply = json.loads(await self.ws.get_message())
                if reply.get("method") == "Runtime.exceptionThrown":
                    details = reply["params"]["exceptionDetails"]
                    self.exceptions.append(
                        details.get("exception", {}).get("description") or details.get("text", "")
                    )
                if reply.get("id") == call:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]

    async def evaluate(self, expression: str) -> Any:
        """The value of a JS expression (promises awaited)."""
        reply = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def wait_for(self, expression: str, what: str, timeout: float = 60.0) -> Any:
        """Poll ``expression`` until it is truthy (bounded); its last value."""
        end = trio.current_time() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if trio.current_time() > end:
                page = await self.evaluate("document.body.innerText.slice(0, 3000)")
                raise AssertionError(f"{what}: not within {timeout} s; page text:\n{page}")
            await trio.sleep(0.2)

    async def open(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for(
            "document.readyState === 'complete' && !!document.getElementById('nodes')",
            f"{url} loaded",
        )


DETAIL = """(() => {
  const d = document.getElementById('job-detail');
  return {id: d.dataset.jobId, state: d.dataset.state,
          bars: document.querySelectorAll('#histogram rect.bar').length,
          gantt: document.querySelectorAll('#gantt rect.bar').length,
          fidelity: document.getElementById('fidelity').innerText,
          error: document.getElementById('detail-error').innerText};
})()"""


def submit_js(qasm: str, shots: int) -> str:
    return f"""(() => {{
  document.getElementById('qasm').value = {json.dumps(qasm)};
  document.getElementById('shots').value = '{shots}';
  document.getElementById('submit').click();
  return true;
}})()"""


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory):
    """``qorch up`` (two nodes) with auth on; its keys: read-only and read,submit."""
    data = tmp_path_factory.mktemp("dashboard") / "data"
    keys = {
        "reader": create_api_key(data, "reader", "read"),
        "researcher": create_api_key(data, "researcher", "read,submit"),
    }
    proc = CoordinatorProcess(
        ["up", "--topology", str(TOPOLOGY)], data, env={"QORCH_API__AUTH_REQUIRED": "true"}
    )
    try:
        proc.start()
        proc.client.headers["X-API-Key"] = keys["reader"]
        proc.wait_for_nodes(2)
        yield proc, keys
    finally:
        code = proc.kill(signal.SIGTERM)
    assert code == 0, proc.stderr_tail()  # it did not crash under the browser's websockets


def test_a_researcher_submits_and_watches_a_job_in_the_dashboard(coordinator, tmp_path):
    proc, keys = coordinator
    browser = Browser(Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)), tmp_path / "c.log")
    screenshot: bytes = b""

    async def main() -> dict[str, Any]:
        nonlocal screenshot
        ws_url = browser.start()
        async with open_websocket_url(ws_url, max_message_size=64 * 2**20) as ws:
            page = Page(ws)
            await page.send("Page.enable")
            await page.send("Runtime.enable")

            # a read-only key: the registry shows, a submit is refused visibly
            await page.open(f"{proc.url}/?api_key={keys['reader']}")
            nodes = await page.wait_for(
                "[...document.querySelectorAll('#nodes tbody tr[data-node]')]"
                ".map(r => r.dataset.node)",
                "the node table lists the nodes",
            )
            assert sorted(nodes) == ["qpu-a", "qpu-b"]
            await page.wait_for(
                "document.getElementById('connection').textContent === 'live'",
                "the events websocket is open (the key on its URL)",
            )
            await page.evaluate(submit_js(GHZ10, 500))
            refusal = await page.wait_for(
                "(() => { const e = document.getElementById('submit-error');"
                " return !e.hidden && e.innerText; })()",
                "a refused submit says so",
            )
            assert "403" in refusal and "forbidden" in refusal, refusal
            banner = await page.evaluate("document.getElementById('auth-error').innerText")
            assert "403" in banner, banner

            # the researcher's key, typed into the key box: it replaces the one of the URL
            # (kept there for a reload), and the events websocket reconnects with it
            researcher = keys["researcher"]
            await page.evaluate(
                "(() => { const k = document.getElementById('api-key');"
                f" k.value = {json.dumps(researcher)};"
                " k.dispatchEvent(new Event('change')); return true; })()"
            )
            await page.wait_for(
                f"new URLSearchParams(location.search).get('api_key') === {json.dumps(researcher)}"
                " && sessionStorage.getItem('qorch.api_key') === " + json.dumps(researcher),
                "the new key is kept in the URL and sessionStorage",
            )
            await page.open(f"{proc.url}/?api_key={researcher}")  # a reload works with it
            await page.wait_for(
                "document.querySelectorAll('#nodes tbody tr[data-node]').length === 2"
                " && document.getElementById('connection').textContent === 'live'"
                " && document.getElementById('auth-error').hidden",
                "nodes listed, events live, no auth message",
            )
            await page.evaluate(submit_js(GHZ10, 500))
            job_id = await page.wait_for(
                "document.getElementById('job-detail').dataset.jobId",
                "the new job is selected",
            )
            detail = await page.wait_for(
                f"(() => {{ const d = {DETAIL}; return (d.state === 'FAILED'"
                " || (d.state === 'COMPLETED' && d.bars > 0)) && d; })()",
                "the job completes with a histogram",
            )
            assert detail["id"] == job_id and detail["state"] == "COMPLETED", detail
            # the jobs table followed the websocket: its row shows the state and progress
            row = await page.wait_for(
                f"(() => {{ const r = document.querySelector('#jobs tr[data-job-id=\"{job_id}\"]');"
                " return r && r.querySelector('.state').textContent === 'COMPLETED'"
                " && r.innerText; })()",
                "the job's row is COMPLETED",
            )
            assert re.search(r"\b(\d+)/\1\b", row), row  # fragments done/total (the plan event)
            await trio.sleep(0.3)  # let the last redraw land before the picture
            shot = await page.send(
                "Page.captureScreenshot", format="png", captureBeyondViewport=True
            )
            screenshot = base64.b64decode(shot["data"])
            assert not page.exceptions, page.exceptions
            return {"job_id": job_id, **detail}

    try:
        detail = trio.run(main)
    finally:
        browser.kill()

    result = httpx.get(
        f"{proc.url}/api/v1/jobs/{detail['job_id']}/result",
        headers={"X-API-Key": keys["reader"]},
    ).json()
    assert detail["bars"] == min(32, len(result["counts"]))
    spans = {n for f in result["fragments"] for n in f["nodes"]}
    assert spans == {"qpu-a", "qpu-b"}  # the plan used both nodes: two Gantt lanes
    assert detail["gantt"] >= len(result["fragments"])
    assert "estimated" in detail["fidelity"] and "achieved" in detail["fidelity"]
    assert f"{result['estimated_fidelity']:.4f}" in detail["fidelity"]

    assert screenshot.startswith(PNG_SIGNATURE) and len(screenshot) > 1000
    (tmp_path / "dashboard.png").write_bytes(screenshot)
    if SCREENSHOT_DIR:
        out = Path(SCREENSHOT_DIR)
        out.mkdir(parents=True, exist_ok=True)
        (out / "dashboard.png").write_bytes(screenshot)
