"""``qorch submit``, ``qorch status``, ``qorch result``, ``qorch cancel``, ``qorch jobs``,
``qorch nodes --url``: the job API's client (FR-009).

They talk to a running coordinator (``--url``, default ``$QORCH_URL`` or
``http://127.0.0.1:8700``), with the API key of ``--api-key`` or ``$QORCH_API_KEY`` when
the coordinator requires one (FR-014). ``submit --wait`` follows the job's websocket
(``/api/v1/jobs/{id}/events``) and shows its state and fragments done / total on stderr
while it runs. An API error is printed as its ``kind`` and ``message`` (with the field
errors of a 422) and exits 2; a coordinator that does not answer exits 2 with the URL it
tried. ``cancel`` exits 0 when it ended the job (``FAILED``, kind ``cancelled``) and 1
when the job had already ended (the API's 409, with the job's final state).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import trio
from loguru import logger
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from qorch.cli.arguments import EXECUTED_HELP, positive_int
from qorch.cli.job_output import print_result, write_executed
from qorch.coordinator.events import JobProgress, decode
from qorch.errors import QorchError
from qorch.logs import configure_logging

DEFAULT_URL = "http://127.0.0.1:8700"
WAIT_POLL_S = 0.2


class ApiError(QorchError):
    """The coordinator refused a request or could not be reached."""

    kind = "api"


def _url(args: argparse.Namespace) -> str:
    """The coordinator's URL; also sets the API key and keeps log lines off the terminal
    unless ``--log-level`` asks for them (a client prints results, not logs)."""

    global _API_KEY
    configure_logging(getattr(args, "log_level", None) or "WARNING", "text")
    _API_KEY = getattr(args, "api_key", None) or os.environ.get("QORCH_API_KEY") or None
    return (args.url or os.environ.get("QORCH_URL") or DEFAULT_URL).rstrip("/")


_API_KEY: str | None = None  # set by _url from --api-key / $QORCH_API_KEY


def call(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """One API request: the status code and the JSON body; :class:`ApiError` if no answer."""

    headers = {"X-API-Key": _API_KEY} if _API_KEY else {}
    try:
        reply = httpx.request(method, url, json=body, timeout=30.0, headers=headers)
    except httpx.HTTPError as exc:
        raise ApiError(f"no answer from {url}: {exc}") from None
    try:
        return reply.status_code, reply.json()
    except ValueError:
        raise ApiError(f"{url} answered {reply.status_code} without JSON") from None


def _checked(code: int, body: Any, ok: tuple[int, ...] = (200,)) -> Any:
    if code in ok:
        return body
    message = f"{body.get('kind', code)}: {body.get('message', '')}"
    for e in body.get("errors", []) or []:
        message += f"\n  {e.get('field')}: {e.get('message')}"
    raise ApiError(message)


def wait_for(url: str, job_id: str, timeout_s: float, *, progress: bool = False) -> dict[str, Any]:
    """Follow the job until it ends (or ``timeout_s`` passes); its last status. Over the
    job's websocket (with a progress display on stderr when ``progress``), falling back
    to polling when the websocket cannot be opened."""
    end = time.monotonic() + timeout_s
    try:
        follow(url, job_id, timeout_s, progress=progress)
    except (OSError, ApiError, ValueError) as exc:  # no websocket: poll instead
        logger.debug("following {} by polling: {}", job_id, exc)
    while True:
        status = _checked(*call("GET", f"{url}/api/v1/jobs/{job_id}"))
        if status["state"] in ("COMPLETED", "FAILED") or time.monotonic() > end:
            return status
        time.sleep(WAIT_POLL_S)


def follow(url: str, job_id: str, timeout_s: float, *, progress: bool) -> None:
    """Read the job's event stream until it ends or ``timeout_s`` passes."""

    ws = url.replace("https://", "wss://").replace("http://", "ws://")
    ws += f"/api/v1/jobs/{job_id}/events" + (f"?api_key={_API_KEY}" if _API_KEY else "")
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("fragments"),
        console=console,
        transient=True,
        disable=not (progress and console.is_terminal),
    )
    state = JobProgress(job_id)
    task = bar.add_task(job_id, total=None)

    async def read() -> None:
        with trio.move_on_after(timeout_s):
            try:
                async with open_websocket_url(ws) as sock:
                    while not state.ended:
                        for event in decode(await sock.get_message()):
                            state.update(event)
                        bar.update(
                            task,
                            description=f"{job_id} {state.state}",
                            completed=state.done,
                            total=state.total,
                        )
            except ConnectionClosed:
                return
            except HandshakeError as exc:
                raise ApiError(f"websocket refused: {exc}") from None

    with bar:
        trio.run(read)


def submit(args: argparse.Namespace) -> int:
    """Submit a circuit file; print the job id first (with ``--wait --json`` as a line
    ``{"job_id": ...}``), then with ``--wait`` the result."""
    url = _url(args)
    path = Path(args.file)
    try:
        qasm = sys.stdin.read() if args.file == "-" else path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ApiError(f"cannot read {args.file}: {exc}") from None
    body: dict[str, Any] = {"qasm": qasm, "format": args.format, "seed": args.seed}
    if args.shots is not None:
        body["shots"] = args.shots
    if args.strategy:
        body["strategy"] = args.strategy
    job_id = _checked(*call("POST", f"{url}/api/v1/circuits/submit", body), ok=(202,))["job_id"]
    # the id first, always: whatever happens while waiting, the job can be found again
    print(json.dumps({"job_id": job_id}) if args.json and args.wait else job_id, flush=True)
    if not args.wait:
        return 0
    status = wait_for(url, job_id, args.timeout, progress=not args.json)
    if status["state"] != "COMPLETED":
        return _report_unfinished(status, args.json)
    return _show_result(url, job_id, args.json, name=args.file)


def status(args: argparse.Namespace) -> int:
    """Print a job's state (and error); without a job, the coordinator's health."""
    if args.job_id is None:
        return _health(_url(args), args.json)
    body = _checked(*call("GET", f"{_url(args)}/api/v1/jobs/{args.job_id}"))
    if args.json:
        print(json.dumps(body, sort_keys=True))
    else:
        line = f"{body['job_id']}  {body['state']}  updated {body['updated_at']}"
        if "error" in body:
            line += f"\n  {body['error'].get('kind')}: {body['error'].get('message')}"
        print(line)
    return 0 if body["state"] != "FAILED" else 2


def result(args: argparse.Namespace) -> int:
    """Print a completed job's result (``--executed FILE``: write its executed circuit)."""
    return _show_result(_url(args), args.job_id, args.json, executed=args.executed)


def cancel(args: argparse.Namespace) -> int:
    """``qorch cancel JOB``: cancel a job (FR-009). Exit 0 when this cancel ended it
    (``FAILED``, error kind ``cancelled``), 1 when it had already ended (409: its final
    state is printed), 2 for any other error (no such job: 404)."""
    code, body = call("POST", f"{_url(args)}/api/v1/jobs/{args.job_id}/cancel")
    if code == 409 and isinstance(body, dict) and body.get("kind") == "conflict":
        if args.json:
            print(json.dumps(body, sort_keys=True))
        else:
            print(f"{args.job_id} had already ended: {body.get('state')}", file=sys.stderr)
        return 1
    body = _checked(code, body)
    if args.json:
        print(json.dumps(body, sort_keys=True))
    else:
        print(f"{body['job_id']}  {body['state']}  {body.get('error', {}).get('kind', '')}")
    return 0


def jobs(args: argparse.Namespace) -> int:
    """``qorch jobs [--state S] [--limit N] [--offset N]``: the coordinator's jobs, oldest
    first (FR-009); ``--json`` prints the API's listing object ``{"jobs", "total",
    "limit", "offset"}`` as it came."""
    query: dict[str, Any] = {"limit": args.limit, "offset": args.offset}
    if args.state:
        query["state"] = args.state
    url = f"{_url(args)}/api/v1/jobs?{urllib.parse.urlencode(query)}"
    body = _checked(*call("GET", url))
    if args.json:
        print(json.dumps(body, sort_keys=True))
        return 0

    table = Table("job", "state", "created", "updated", "error")
    for job in body["jobs"]:
        error = job.get("error") or {}
        table.add_row(
            job["job_id"], job["state"], job["created_at"], job["updated_at"],
            error.get("kind", ""),
        )  # fmt: skip
    shown = f"{body['offset'] + 1}-{body['offset'] + len(body['jobs'])}" if body["jobs"] else "none"
    console = Console(width=160)
    console.print(table if body["jobs"] else "no jobs")
    console.print(f"{shown} of {body['total']} job(s)")
    return 0


def _show_result(
    url: str, job_id: str, as_json: bool, name: str | None = None, executed: str | None = None
) -> int:

    query = "?include=executed" if executed else ""
    code, body = call("GET", f"{url}/api/v1/jobs/{job_id}/result{query}")
    if code == 409:
        return _report_unfinished(body, as_json)
    body = _checked(code, body)
    if executed:
        write_executed(executed, body.pop("executed_qasm3", ""))
    if as_json:
        print(json.dumps(body, sort_keys=True))
    else:
        print_result(job_id if name is None else f"{name} ({job_id})", body)
    return 0


def _report_unfinished(body: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(body, sort_keys=True))
    else:
        print(f"{body['job_id']} is {body['state']}", file=sys.stderr)
        if "error" in body:
            print(f"  {body['error'].get('kind')}: {body['error'].get('message')}", file=sys.stderr)
    return 2


def _health(url: str, as_json: bool) -> int:
    code, body = call("GET", f"{url}/health")
    if code not in (200, 503):
        _checked(code, body)
    if as_json:
        print(json.dumps(body, sort_keys=True))
    else:
        print(f"{url}  {body['status']}")
        for name, check in body.get("checks", {}).items():
            facts = ", ".join(f"{k} {v}" for k, v in check.items() if k != "status")
            print(f"  {name:<12} {check['status']:<9} {facts}")
    return 0 if body["status"] == "ok" else 2


def nodes(args: argparse.Namespace) -> int:
    """``qorch nodes --url``: the coordinator's registry (what ``/api/v1/nodes`` lists)."""
    body = _checked(*call("GET", f"{_url(args)}/api/v1/nodes"))
    print_nodes(body["nodes"], args.json)
    return 0


def print_nodes(entries: list[dict], as_json: bool) -> None:
    """Nodes as JSON lines, or as a table."""
    if as_json:
        for entry in entries:
            print(json.dumps(entry, sort_keys=True))
        return

    table = Table("node", "peer id", "type", "qubits", "fidelity", "state", "age s", "services")
    for e in entries:
        state = e["availability"] + (" (degraded)" if e["degraded"] else "")
        table.add_row(
            e["node"],
            e["peer_id"],
            e["service_type"],
            str(e["qubits"][1]),
            f"{e['fidelity']:.4g}",
            state,
            f"{e['age_s']:.1f}",
            " ".join(e["services"]),
        )
    Console(width=160).print(table if entries else "no nodes seen")


def add_submit_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch submit``'s arguments."""
    _add_client_arguments(parser, submit)
    parser.add_argument("file", metavar="FILE", help="circuit file; '-' reads stdin")
    parser.add_argument("--format", default="auto", choices=("auto", "qasm2", "qasm3"))
    parser.add_argument(
        "--shots", type=positive_int, metavar="N", help="shots (default: runtime.shots)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="job seed (default 0)")
    parser.add_argument("--strategy", metavar="S", help="placement strategy")
    parser.add_argument("--wait", action="store_true", help="wait for the job and print its result")
    parser.add_argument(
        "--timeout", type=float, default=600.0, metavar="S", help="--wait at most S"
    )


def add_status_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch status``'s arguments."""
    _add_client_arguments(parser, status)
    parser.add_argument(
        "job_id", metavar="JOB", nargs="?", help="the job (default: the coordinator)"
    )


def add_result_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch result``'s arguments."""
    _add_client_arguments(parser, result)
    parser.add_argument("job_id", metavar="JOB")
    parser.add_argument("--executed", metavar="FILE", help=EXECUTED_HELP)


def add_cancel_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch cancel``'s arguments."""
    _add_client_arguments(parser, cancel)
    parser.add_argument("job_id", metavar="JOB")


def add_jobs_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``qorch jobs``'s arguments."""
    _add_client_arguments(parser, jobs)
    parser.add_argument("--state", metavar="S", help="only jobs in state S (QUEUED ... FAILED)")
    parser.add_argument("--limit", type=int, default=100, metavar="N", help="at most N (1-1000)")
    parser.add_argument("--offset", type=int, default=0, metavar="N", help="skip the first N")


def _add_client_arguments(parser: argparse.ArgumentParser, handler: Any) -> None:
    """What every client command takes: ``--url``, ``--json``, ``--api-key``; ``handler``
    runs it."""
    parser.add_argument("--url", metavar="U", help="coordinator API (default $QORCH_URL or :8700)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--api-key", metavar="K", help="API key (default $QORCH_API_KEY)")
    parser.set_defaults(handler=handler)
