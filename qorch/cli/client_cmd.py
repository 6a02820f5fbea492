"""``qorch submit``, ``qorch status``, ``qorch result``, ``qorch cancel``, ``qorch jobs``,
``qorch nodes --url``: the job API's client (FR-009), through
:class:`qorch.client.Client` (the one HTTP client of the API).

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
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from qorch.cli.arguments import EXECUTED_HELP, positive_int
from qorch.cli.job_output import print_result, write_executed
from qorch.client import ApiError, Client, Conflict, Job
from qorch.coordinator.events import JobProgress
from qorch.logs import configure_logging


def _client(args: argparse.Namespace) -> Client:
    """The :class:`~qorch.client.Client` of ``--url`` / ``$QORCH_URL`` with ``--api-key``
    / ``$QORCH_API_KEY``; keeps log lines off the terminal unless ``--log-level`` asks
    for them (a client prints results, not logs)."""
    configure_logging(getattr(args, "log_level", None) or "WARNING", "text")
    key = getattr(args, "api_key", None) or os.environ.get("QORCH_API_KEY") or None
    return Client(args.url or None, api_key=key)


def wait_for(client: Client, job_id: str, timeout_s: float, *, progress: bool) -> Job:
    """Follow the job until it ends (or ``timeout_s`` passes), with a progress display
    on stderr when ``progress`` and stderr is a terminal; its last status."""
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
    task = bar.add_task(job_id, total=None)

    def show(state: JobProgress) -> None:
        bar.update(
            task, description=f"{job_id} {state.state}", completed=state.done, total=state.total
        )

    with bar:
        return client.wait(job_id, timeout_s, on_progress=show)


def submit(args: argparse.Namespace) -> int:
    """Submit a circuit file; print the job id first (with ``--wait --json`` as a line
    ``{"job_id": ...}``), then with ``--wait`` the result."""
    try:
        qasm = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ApiError("io", f"cannot read {args.file}: {exc}", where=args.file) from None
    with _client(args) as client:
        job_id = client.submit(
            qasm, format=args.format, seed=args.seed, shots=args.shots, strategy=args.strategy
        )
        # the id first, always: whatever happens while waiting, the job can be found again
        print(json.dumps({"job_id": job_id}) if args.json and args.wait else job_id, flush=True)
        if not args.wait:
            return 0
        job = wait_for(client, job_id, args.timeout, progress=not args.json)
        if job.state != "COMPLETED":
            return _report_unfinished(job.raw, args.json)
        return _show_result(client, job_id, args.json, name=args.file)


def status(args: argparse.Namespace) -> int:
    """Print a job's state (and error); without a job, the coordinator's health."""
    with _client(args) as client:
        if args.job_id is None:
            return _health(client, args.json)
        job = client.status(args.job_id)
    if args.json:
        print(json.dumps(job.raw, sort_keys=True))
    else:
        line = f"{job.job_id}  {job.state}  updated {job.updated_at}"
        if job.error is not None:
            line += f"\n  {job.error.get('kind')}: {job.error.get('message')}"
        print(line)
    return 0 if job.state != "FAILED" else 2


def result(args: argparse.Namespace) -> int:
    """Print a completed job's result (``--executed FILE``: write its executed circuit)."""
    with _client(args) as client:
        return _show_result(client, args.job_id, args.json, executed=args.executed)


def cancel(args: argparse.Namespace) -> int:
    """``qorch cancel JOB``: cancel a job (FR-009). Exit 0 when this cancel ended it
    (``FAILED``, error kind ``cancelled``), 1 when it had already ended (409: its final
    state is printed), 2 for any other error (no such job: 404)."""
    try:
        with _client(args) as client:
            job = client.cancel(args.job_id)
    except Conflict as exc:
        if exc.kind != "conflict":
            raise
        if args.json:
            print(json.dumps(exc.body, sort_keys=True))
        else:
            print(f"{args.job_id} had already ended: {exc.state}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(job.raw, sort_keys=True))
    else:
        print(f"{job.job_id}  {job.state}  {(job.error or {}).get('kind', '')}")
    return 0


def jobs(args: argparse.Namespace) -> int:
    """``qorch jobs [--state S] [--limit N] [--offset N]``: the coordinator's jobs, oldest
    first (FR-009); ``--json`` prints the API's listing object ``{"jobs", "total",
    "limit", "offset"}`` as it came."""
    with _client(args) as client:
        page = client.jobs(args.state, limit=args.limit, offset=args.offset)
    if args.json:
        print(json.dumps(page.raw, sort_keys=True))
        return 0

    table = Table("job", "state", "created", "updated", "error")
    for job in page.jobs:
        table.add_row(
            job.job_id, job.state, job.created_at, job.updated_at, (job.error or {}).get("kind", "")
        )
    shown = f"{page.offset + 1}-{page.offset + len(page.jobs)}" if page.jobs else "none"
    console = Console(width=160)
    console.print(table if page.jobs else "no jobs")
    console.print(f"{shown} of {page.total} job(s)")
    return 0


def _show_result(
    client: Client,
    job_id: str,
    as_json: bool,
    name: str | None = None,
    executed: str | None = None,
) -> int:
    try:
        body = dict(client.result(job_id, executed=executed is not None).raw)
    except Conflict as exc:
        return _report_unfinished(exc.body, as_json)
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


def _health(client: Client, as_json: bool) -> int:
    health = client.health()
    if as_json:
        print(json.dumps(health.raw, sort_keys=True))
    else:
        print(f"{client.url}  {health.status}")
        for name, check in health.checks.items():
            facts = ", ".join(f"{k} {v}" for k, v in check.items() if k != "status")
            print(f"  {name:<12} {check['status']:<9} {facts}")
    return 0 if health.ok else 2


def nodes(args: argparse.Namespace) -> int:
    """``qorch nodes --url``: the coordinator's registry (what ``/api/v1/nodes`` lists)."""
    with _client(args) as client:
        print_nodes(client.nodes(), args.json)
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
