"""The coordinator's HTTP job API (FR-009, FR-012), a Litestar app served by hypercorn's
trio worker inside the coordinator's own trio loop (:mod:`qorch.coordinator.server`),
behind the request-id / key / rate / size checks of :mod:`qorch.coordinator.security`.

=======  ==============================  ============================================
method   path                            answer
=======  ==============================  ============================================
POST     /api/v1/circuits/submit         202 ``{"job_id"}`` at once (nothing compiled)
GET      /api/v1/jobs                    ``{"jobs", "total", "limit", "offset"}``
GET      /api/v1/jobs/{id}               ``{"job_id", "state", "created_at", ...}``
GET      /api/v1/jobs/{id}/result        the result (409 while the job runs);
                                         ?include=executed adds the executed circuit
POST     /api/v1/jobs/{id}/cancel        the job, FAILED with a ``cancelled`` error; 409
                                         with its ``state`` if it had already ended
GET      /api/v1/nodes                   the registry's view of every node
WS       /api/v1/jobs/{id}/events        a job's snapshot, then its live events
WS       /api/v1/events                  the latest jobs, then every job's events
GET      /health                         coordinator, store, transport, registry (503 if not ok)
GET      /metrics                        Prometheus metrics
GET      /                               the dashboard (static files under /static)
GET      /schema/openapi.json            the OpenAPI document
=======  ==============================  ============================================

Every error is JSON ``{"kind", "message", "errors"?, "state"?}``: a bad body or query is
422 with one entry per field (``{"field", "message"}``), an unknown job 404, a cancel of a
job that had already ended 409 ``{"kind": "conflict", "state"}``; each documented in the
OpenAPI document with the status codes the route can answer.

The routes are Litestar controllers, one per resource; :func:`create_app` gives them the
job service, node registry, event hub, metrics, settings and placement strategies as
dependencies. Litestar checks the query's bounds (``Parameter(ge=, le=)``); the error
handler words what it refuses as the rule broken (:data:`QUERY_RULES`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import trio
from litestar import Controller, Litestar, Request, Response, WebSocket, get, post, websocket
from litestar.di import Provide
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    ValidationException,
    WebSocketDisconnect,
)
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.params import Body, Parameter
from litestar.static_files import create_static_files_router
from loguru import logger

from qorch.config import Settings
from qorch.coordinator.events import COALESCE_S, EventHub, Subscription
from qorch.coordinator.jobs import JobService, QueueFull
from qorch.coordinator.metrics import CONTENT_TYPE, CoordinatorMetrics
from qorch.coordinator.submission import Submission, openapi_schema, submission_from_body
from qorch.logs import correlation
from qorch.model import JobRecord, JobState

STATIC = Path(__file__).with_name("static")
SUBMIT_SCHEMA = openapi_schema(Submission)


@dataclasses.dataclass
class FieldError:
    """One problem of a request: the field it is about, and what is wrong."""

    field: str | None
    message: str


@dataclasses.dataclass
class ErrorBody:
    """Every error answer: its kind, a message, for a 422 one entry per field, and for a
    cancel's 409 the state the job had ended in (FR-009)."""

    kind: str
    message: str
    errors: list[FieldError] | None = None
    state: str | None = None


_WHY = {
    401: "no API key, or an unknown one (with api.auth_required)",
    403: "the key lacks the role this needs",
    404: "no such job",
    409: "the job has not completed",
    413: "the request body is over api.max_body_bytes",
    422: "invalid body or query: one entry per field",
    429: "over the key's rate limit (Retry-After says when to retry)",
    503: "the job queue is full",
}


def errors(*codes: int, why: dict[int, str] | None = None) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error answers a route can give (and those every guarded
    route can: 401, 403, 429); ``why`` words a code differently for this route."""
    why = {**_WHY, **(why or {})}
    return {
        c: ResponseSpec(data_container=ErrorBody, description=why[c])
        for c in sorted({401, 403, 429, *codes})
    }


def _field_error(e: dict[str, Any]) -> dict[str, Any]:
    """One entry of a 422's ``errors``: the field a message is about, and the message."""
    return {"field": e.get("field") or e.get("key"), "message": str(e.get("message", ""))}


def job_view(job: JobRecord) -> dict[str, Any]:
    """What ``GET /api/v1/jobs/{id}`` answers."""
    view: dict[str, Any] = {
        "job_id": job.job_id,
        "state": job.state.value,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
    }
    if job.error is not None:
        view["error"] = job.error
    return view


async def job_snapshot(service: JobService, job: JobRecord) -> dict[str, Any]:
    """The first message of a job's event stream: its view and fragment progress (the
    plan's fragment count, and how many of the current run's fragments completed)."""
    total, done = None, 0
    if job.plan is not None:
        total = len(job.plan.get("plan", {}).get("fragments", []))
        run = job.plan.get("run", 0)
        prefix = "" if run == 0 else f"{job.job_id}.{run}/"
        records = await trio.to_thread.run_sync(service.store.list_fragments, job.job_id)
        done = sum(
            1
            for r in records
            if r.status == "ok"
            and (r.fragment_id.startswith(prefix) if prefix else "/" not in r.fragment_id)
        )
    return {"type": "snapshot", "job": job_view(job), "fragments": {"total": total, "done": done}}


async def follow(socket: WebSocket, sub: Subscription, *, until_end: bool) -> None:
    """Send ``sub``'s events to ``socket`` until the client leaves (or, ``until_end``, the
    job ends): each burst as one message, one event per line. A slow client only slows
    its own task: the hub drops its oldest events."""

    async def watch_close(cancel: trio.CancelScope) -> None:
        try:
            while True:
                await socket.receive_data(mode="text")
        except Exception:  # a disconnect, or anything else: stop sending
            cancel.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_close, nursery.cancel_scope)
        try:
            while True:
                entries = await sub.get(linger=COALESCE_S)
                await socket.send_text("\n".join(text for _, text in entries))
                if until_end and any(e.get("new") in ("COMPLETED", "FAILED") for e, _ in entries):
                    nursery.cancel_scope.cancel()
                    return
        except (WebSocketDisconnect, trio.BrokenResourceError, trio.ClosedResourceError):
            nursery.cancel_scope.cancel()


async def health_report(service: JobService, registry: Any) -> dict[str, Any]:
    """What ``/health`` answers (its docstring)."""
    checks: dict[str, dict[str, Any]] = {
        "coordinator": {
            "status": "ok" if not service.stopping else "down",
            "queued": service.queue_depth,
            "running": service.running,
        }
    }
    try:
        queued = await trio.to_thread.run_sync(service.store.count_jobs, JobState.QUEUED)
        checks["store"] = {"status": "ok", "queued_jobs": queued}
    except Exception as exc:
        logger.opt(exception=exc).error("health: the store failed: {}", exc)
        queued = 0
        checks["store"] = {"status": "down", "error": type(exc).__name__}
    peer = getattr(service.client, "peer", None)
    connected = len(peer.connected()) if peer is not None else None
    checks["transport"] = {
        "status": "ok" if connected is None or connected > 0 else "degraded",
        "connected_peers": connected,
    }
    now = registry.clock()
    entries = registry.entries()
    available = [e for e in entries if e.available]
    checks["registry"] = {
        "status": "ok" if available else "degraded",
        "nodes": len(entries),
        "available": len(available),
        "degraded": sum(1 for e in entries if e.degraded),
        "oldest_advert_s": round(max((e.age(now) for e in available), default=0.0), 3),
    }
    states = {c["status"] for c in checks.values()}
    status = "down" if "down" in states else "degraded" if "degraded" in states else "ok"
    return {
        "status": status,
        "ok": status == "ok",
        "queued": queued,
        "nodes": len(available),
        "checks": checks,
    }


#: the most jobs one page of ``GET /api/v1/jobs`` lists
MAX_PAGE = 1000


def _any_case(name: str) -> str:
    """A regular expression matching ``name`` in any letter case (``[Qq][Uu]...``)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in name)


#: ``?state=``: a job state, in any letter case
STATE_PATTERN = "^(" + "|".join(_any_case(s.value) for s in JobState) + ")$"

#: what a 422 says of each query parameter Litestar refused, by its handler argument:
#: the parameter's name and the rule it breaks
QUERY_RULES = {
    "state_filter": ("state", f"one of {', '.join(JobState)}"),
    "limit": ("limit", f"between 1 and {MAX_PAGE}"),
    "offset": ("offset", "at least 0"),
}


async def _load(service: JobService, job_id: str) -> JobRecord:
    """The stored job; 404 when there is none."""
    job = await trio.to_thread.run_sync(service.store.get_job, job_id)
    if job is None:
        raise NotFoundException(f"no job {job_id!r}")
    return job


class CircuitController(Controller):
    """Submitting circuits (FR-009)."""

    path = "/api/v1/circuits"

    @post("/submit", status_code=202, responses=errors(413, 422, 503))
    async def submit(
        self,
        data: Annotated[Any, Body(schema_extra=SUBMIT_SCHEMA)],
        request: Request,
        service: JobService,
        settings: Settings,
        strategies: frozenset[str],
    ) -> dict[str, str]:
        """Queue a circuit; answers at once with the job id."""
        submission = submission_from_body(data, strategies, settings.limits.max_qasm_bytes)
        # the worker's log lines of this job carry the request id too
        request_id = request.scope.get("state", {}).get("request_id")
        try:
            job = await service.submit(submission, request_id=request_id)
        except QueueFull as exc:
            raise HTTPException(str(exc), status_code=503) from None
        with correlation(job_id=job.job_id):
            logger.info("job {} queued", job.job_id)
        return {"job_id": job.job_id}


class JobController(Controller):
    """The jobs: the paged list, one job's state, result and events, cancelling (FR-009)."""

    path = "/api/v1/jobs"

    @get("/", responses=errors(422))
    async def list_jobs(
        self,
        service: JobService,
        state_filter: Annotated[str | None, Parameter(query="state", pattern=STATE_PATTERN)] = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = 100,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Jobs, oldest first, optionally in one state, paged."""
        wanted = JobState(state_filter.upper()) if state_filter else None
        total = await trio.to_thread.run_sync(service.store.count_jobs, wanted)
        jobs = []
        if offset < total:  # past the last job: no query (an offset over 2**63 overflows SQLite)
            jobs = await trio.to_thread.run_sync(
                lambda: service.store.list_jobs(wanted, limit=limit, offset=offset)
            )
        return {
            "jobs": [job_view(j) for j in jobs],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    @get("/{job_id:str}", responses=errors(404))
    async def job_status(self, job_id: str, service: JobService) -> dict[str, Any]:
        """A job's state."""
        return job_view(await _load(service, job_id))

    @get("/{job_id:str}/result", responses=errors(404, 409))
    async def job_result(
        self, job_id: str, service: JobService, include: str | None = None
    ) -> Response[dict[str, Any]]:
        """A completed job's result; 409 (with the state) before it ends.

        ``include=executed`` adds ``executed_qasm3``: the OpenQASM 3 of the circuit the
        nodes executed, explicit protocols, no noise (DESIGN §6)."""
        job = await _load(service, job_id)
        if job.state is JobState.COMPLETED:
            result = dict(job.result or {})
            executed = result.pop("executed_qasm3", None)
            if include == "executed":
                result["executed_qasm3"] = executed or ""
            return Response({"job_id": job_id, "state": job.state.value, **result})
        body = {
            "kind": "not_ready" if not job.state.terminal else "failed",
            "message": f"job {job_id} is {job.state.value}",
            **job_view(job),
        }
        return Response(body, status_code=409)

    @post(
        "/{job_id:str}/cancel",
        status_code=200,
        responses=errors(404, 409, 413, why={409: "the job had already ended: its state"}),
    )
    async def cancel(self, job_id: str, service: JobService) -> Response[dict[str, Any]]:
        """Cancel a job that has not ended (FR-009): 200 with the job, which is then
        ``FAILED`` with error kind ``cancelled`` and never completes — its remaining
        fragments stop and its windows are given back; 409 ``{"kind": "conflict",
        "state"}`` with the final state of a job that had already ended.

        Decided by :meth:`JobService.cancel` in one compare-and-set on the job's state."""
        outcome = await service.cancel(job_id)
        if outcome is None:
            raise NotFoundException(f"no job {job_id!r}")
        state = outcome.job.state.value
        if not outcome.cancelled:
            message = f"job {job_id} had already ended: {state}"
            body = {"kind": "conflict", "message": message, "state": state}
            return Response(body, status_code=409)
        with correlation(job_id=job_id):
            logger.info("job {} cancelled", job_id)
        return Response(job_view(outcome.job), status_code=200)

    @websocket("/{job_id:str}/events")
    async def job_events(
        self, socket: WebSocket, job_id: str, service: JobService, hub: EventHub
    ) -> None:
        """One job's events: a ``snapshot`` of its state first, then its state changes,
        plans and fragment changes until it ends (then the socket closes)."""
        await socket.accept()
        with hub.subscribe(job_id) as sub:  # before reading the state: nothing is missed
            job = await trio.to_thread.run_sync(service.store.get_job, job_id)
            if job is None:
                await socket.send_json(
                    {"type": "error", "kind": "not_found", "message": f"no job {job_id!r}"}
                )
                await socket.close(code=4404)
                return
            await socket.send_json(await job_snapshot(service, job))
            if not job.state.terminal:
                await follow(socket, sub, until_end=True)
        await socket.close()


class NetworkController(Controller):
    """What the coordinator sees: the node registry, and every job's events (FR-009)."""

    path = "/api/v1"

    @get("/nodes", responses=errors())
    async def nodes(self, registry: Any) -> dict[str, Any]:
        """Every node the registry knows, with availability and quality."""
        now = registry.clock()
        return {"nodes": [e.describe(now) for e in registry.entries()]}

    @websocket("/events")
    async def all_events(self, socket: WebSocket, service: JobService, hub: EventHub) -> None:
        """Every job's events: a ``snapshot`` of the latest jobs first, then live."""
        await socket.accept()
        with hub.subscribe(None) as sub:
            total = await trio.to_thread.run_sync(service.store.count_jobs, None)
            jobs = await trio.to_thread.run_sync(
                lambda: service.store.list_jobs(None, limit=100, offset=max(0, total - 100))
            )
            await socket.send_json({"type": "snapshot", "jobs": [job_view(j) for j in jobs]})
            await follow(socket, sub, until_end=False)


class OperationsController(Controller):
    """For operators: readiness, metrics and the dashboard page (FR-012)."""

    path = "/"

    @get("/health", responses={503: ResponseSpec(dict[str, Any], description="not ok")})
    async def health(self, service: JobService, registry: Any) -> Response[dict[str, Any]]:
        """Readiness (FR-012): coordinator, store, transport and registry, with an overall
        ``status`` — 200 when ``ok``, 503 when ``degraded`` (no available node, no
        connected peer) or ``down`` (the store fails)."""
        body = await health_report(service, registry)
        return Response(body, status_code=200 if body["status"] == "ok" else 503)

    @get("/metrics", media_type=CONTENT_TYPE, include_in_schema=False)
    async def metrics_text(self, metrics: CoordinatorMetrics | None) -> Response[bytes]:
        """Prometheus metrics (text exposition format)."""
        body = metrics.render() if metrics is not None else b""
        return Response(body, media_type=CONTENT_TYPE)

    @get("/", media_type="text/html", include_in_schema=False)
    async def dashboard(self) -> Response[bytes]:
        """The dashboard page (static HTML; its script follows the API and websocket)."""
        page = STATIC / "index.html"
        if not page.is_file():
            raise NotFoundException("the dashboard is not installed")
        return Response(page.read_bytes(), media_type="text/html")


def _always(value: Any) -> Provide:
    """A dependency that is always ``value`` (the app's one job service, registry, ...)."""
    return Provide(lambda: value, sync_to_thread=False)


def create_app(
    service: JobService,
    registry: Any,
    *,
    hub: EventHub | None = None,
    metrics: CoordinatorMetrics | None = None,
) -> Litestar:
    """The Litestar app over ``service`` (jobs) and ``registry`` (nodes), with ``hub``'s
    events on the websockets and ``metrics`` at ``/metrics``: the controllers above,
    given these (and the settings and placement strategies) as dependencies."""
    settings = service.plugins.settings
    dependencies = {
        "service": service,
        "registry": registry,
        "hub": hub or EventHub(settings.api.event_buffer),
        "metrics": metrics,
        "settings": settings,
        "strategies": frozenset(service.plugins.registry.names("placement")),
    }
    return Litestar(
        [
            CircuitController,
            JobController,
            NetworkController,
            OperationsController,
            create_static_files_router(path="/static", directories=[STATIC], name="static"),
        ],
        dependencies={name: _always(value) for name, value in dependencies.items()},
        exception_handlers={Exception: _error_body},
        openapi_config=OpenAPIConfig(title="qorch coordinator", version="1"),
        debug=False,
    )


def _error_body(_: Request, exc: Exception) -> Response[dict[str, Any]]:
    """Every error as ``{"kind", "message"}`` (422s with their field errors: a query
    parameter Litestar refused with the rule it breaks, as :data:`QUERY_RULES` says)."""
    if isinstance(exc, ValidationException):
        extra = exc.extra if isinstance(exc.extra, list) else []
        query = [
            dict(zip(("field", "message"), QUERY_RULES[e["key"]], strict=True))
            for e in extra
            if isinstance(e, dict) and e.get("source") == "query" and e.get("key") in QUERY_RULES
        ]
        if query:
            body = {"kind": "validation", "message": "invalid query", "errors": query}
            return Response(body, status_code=422)
        errors = [_field_error(e) for e in extra if isinstance(e, dict)]
        body = {"kind": "validation", "message": exc.detail, "errors": errors}
        return Response(body, status_code=422)
    if isinstance(exc, HTTPException):
        kind = {404: "not_found", 400: "malformed", 503: "queue_full"}.get(exc.status_code, "http")
        return Response({"kind": kind, "message": exc.detail}, status_code=exc.status_code)
    logger.opt(exception=exc).error("request failed: {}", exc)
    return Response(
        {"kind": "internal", "message": "internal error (logged with the request id)"},
        status_code=500,
    )
