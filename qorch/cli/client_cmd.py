"""``qorch submit``, ``qorch status``, ``qorch result``: the job API's client (FR-009).

They talk to a running coordinator (``--url``, default ``$QORCH_URL`` or
``http://127.0.0.1:8700``). An API error is printed as its ``kind`` and ``message`` (with
the field errors of a 422) and exits 2; a coordinator that does not answer exits 2 with
the URL it tried.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from qorch.errors import QorchError

DEFAULT_URL = "http://127.0.0.1:8700"
WAIT_POLL_S = 0.2


class ApiError(QorchError):
    """The coordinator refused a request or could not be reached."""

    kind = "api"


def _url(args: argparse.Namespace) -> str:
    return (args.url or os.environ.get("QORCH_URL") or DEFAULT_URL).rstrip("/")


def call(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """One API request: the status code and the JSON body; :class:`ApiError` if no answer."""
    import httpx

    try:
        reply = httpx.request(method, url, json=body, timeout=30.0)
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


def wait_for(url: str, job_id: str, timeout_s: float) -> dict[str, Any]:
    """Poll the job until it ends (or ``timeout_s`` passes); its last status."""
    end = time.monotonic() + timeout_s
    while True:
        status = _checked(*call("GET", f"{url}/api/v1/jobs/{job_id}"))
        if status["state"] in ("COMPLETED", "FAILED") or time.monotonic() > end:
            return status
        time.sleep(WAIT_POLL_S)


def submit(args: argparse.Namespace) -> int:
    """Submit a circuit file; print the job id (with --wait: the result)."""
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
    if not args.wait:
        print(job_id)
        return 0
    status = wait_for(url, job_id, args.timeout)
    if status["state"] != "COMPLETED":
        return _report_unfinished(status, args.json)
    return _show_result(url, job_id, args.json, name=args.file)


def status(args: argparse.Namespace) -> int:
    """Print a job's state (and error)."""
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
    """Print a completed job's result."""
    return _show_result(_url(args), args.job_id, args.json, name=args.job_id)


def _show_result(url: str, job_id: str, as_json: bool, name: str) -> int:
    from qorch.cli.run_cmd import print_result

    code, body = call("GET", f"{url}/api/v1/jobs/{job_id}/result")
    if code == 409:
        return _report_unfinished(body, as_json)
    body = _checked(code, body)
    if as_json:
        print(json.dumps(body, sort_keys=True))
    else:
        print_result(f"{name} ({job_id})", body)
    return 0


def _report_unfinished(body: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(body, sort_keys=True))
    else:
        print(f"{body['job_id']} is {body['state']}", file=sys.stderr)
        if "error" in body:
            print(f"  {body['error'].get('kind')}: {body['error'].get('message')}", file=sys.stderr)
    return 2
