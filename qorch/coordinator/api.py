"""The coordinator's HTTP job API (FR-009 core), a Litestar app served by hypercorn's trio
worker inside the coordinator's own trio loop (:func:`serve_api`).

=======  ==============================  ============================================
method   path                            answer
=======  ==============================  ============================================
POST     /api/v1/circuits/submit         202 ``{"job_id"}`` at once (nothing compiled)
GET      /api/v1/jobs                    ``{"jobs", "total", "limit", "offset"}``
GET      /api/v1/jobs/{id}               ``{"job_id", "state", "created_at", ...}``
GET      /api/v1/jobs/{id}/result        the result (409 while the job runs)
POST     /api/v1/jobs/{id}/cancel        the job, FAILED with a ``cancelled`` error
GET      /api/v1/nodes                   the registry's view of every node
GET      /health                         ``{"ok": true, "queued", "nodes"}``
GET      /schema/openapi.json            the OpenAPI document
=======  ==============================  ============================================

Every error is JSON ``{"kind", "message", "errors"?}``: a bad body is 422 with one entry
per field (``{"field", "message"}``), an unknown job 404.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import attrs
import trio
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.params import Parameter

from qorch.coordinator.jobs import JobService, QueueFull
from qorch.model import JobRecord, JobState

FORMATS = ("auto", "qasm2", "qasm3")
MAX_SHOTS = 1_000_000


@attrs.define
class SubmitRequest:
    """The body of ``POST /api/v1/circuits/submit``."""

    qasm: str
    format: str = "auto"
    shots: int | None = None
    seed: int | None = None
    min_fidelity: float | None = None
    strategy: str | None = None


def check_submit(
    body: SubmitRequest,
    strategies: set[str],
    max_bytes: int,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The job request of a valid body; :class:`ValidationException` (422) naming each bad
    field otherwise (after any ``errors`` found before)."""
    errors = list(errors or [])
    if not body.qasm.strip():
        errors.append({"field": "qasm", "message": "empty circuit"})
    elif len(body.qasm.encode()) > max_bytes:
        errors.append({"field": "qasm", "message": f"larger than {max_bytes} bytes"})
    if body.format not in FORMATS:
        errors.append({"field": "format", "message": f"one of {', '.join(FORMATS)}"})
    if body.shots is not None and not 1 <= body.shots <= MAX_SHOTS:
        errors.append({"field": "shots", "message": f"between 1 and {MAX_SHOTS}"})
    if body.seed is not None and not 0 <= body.seed < 2**32:
        errors.append({"field": "seed", "message": "between 0 and 2**32 - 1"})
    if body.min_fidelity is not None and not 0.0 <= body.min_fidelity <= 1.0:
        errors.append({"field": "min_fidelity", "message": "between 0 and 1"})
    if body.strategy is not None and body.strategy not in strategies:
        errors.append({"field": "strategy", "message": f"one of {', '.join(sorted(strategies))}"})
    if errors:
        raise ValidationException("invalid submission", extra=errors)
    request = attrs.asdict(body)
    request["seed"] = body.seed or 0
    return {k: v for k, v in request.items() if v is not None}


def _field_error(e: dict[str, Any]) -> dict[str, Any]:
    """One entry of a 422's ``errors``: the field a message is about, and the message."""
    message = str(e.get("message", ""))
    field = e.get("field") or e.get("key")
    missing = re.match(r"Object missing required field `(\w+)`", message)
    if missing:
        field = missing.group(1)
    return {"field": field, "message": message}


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


def create_app(service: JobService, registry: Any) -> Litestar:
    """The Litestar app over ``service`` (jobs) and ``registry`` (nodes)."""
    settings = service.plugins.settings
    strategies = set(service.plugins.registry.names("placement"))

    async def load(job_id: str) -> JobRecord:
        job = await trio.to_thread.run_sync(service.store.get_job, job_id)
        if job is None:
            raise NotFoundException(f"no job {job_id!r}")
        return job

    @post("/api/v1/circuits/submit", status_code=202)
    async def submit(data: SubmitRequest, request: Request) -> dict[str, str]:
        """Queue a circuit; answers at once with the job id."""
        unknown = sorted(set(await request.json()) - set(attrs.fields_dict(SubmitRequest)))
        # a misspelt option must not be ignored silently; reported with the value checks
        errors = [{"field": k, "message": "unknown field"} for k in unknown]
        job_request = check_submit(data, strategies, settings.limits.max_qasm_bytes, errors)
        try:
            job = await service.submit(job_request)
        except QueueFull as exc:
            raise HTTPException(str(exc), status_code=503) from None
        return {"job_id": job.job_id}

    @get("/api/v1/jobs/{job_id:str}")
    async def job_status(job_id: str) -> dict[str, Any]:
        """A job's state."""
        return job_view(await load(job_id))

    @get("/api/v1/jobs/{job_id:str}/result")
    async def job_result(job_id: str) -> Response[dict[str, Any]]:
        """A completed job's result; 409 (with the state) before it ends."""
        job = await load(job_id)
        if job.state is JobState.COMPLETED:
            return Response({"job_id": job_id, "state": job.state.value, **(job.result or {})})
        body = {
            "kind": "not_ready" if not job.state.terminal else "failed",
            "message": f"job {job_id} is {job.state.value}",
            **job_view(job),
        }
        return Response(body, status_code=409)

    @get("/api/v1/jobs")
    async def list_jobs(
        state_filter: Annotated[str | None, Parameter(query="state")] = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        """Jobs, oldest first, optionally in one state, paged."""
        state = state_filter
        errors = []
        if state is not None and state.upper() not in JobState.__members__:
            errors.append({"field": "state", "message": f"one of {', '.join(JobState)}"})
        if not 1 <= limit <= 1000:
            errors.append({"field": "limit", "message": "between 1 and 1000"})
        if offset < 0:
            errors.append({"field": "offset", "message": "at least 0"})
        if errors:
            raise ValidationException("invalid query", extra=errors)
        wanted = JobState(state.upper()) if state else None
        jobs = await trio.to_thread.run_sync(
            lambda: service.store.list_jobs(wanted, limit=limit, offset=offset)
        )
        total = await trio.to_thread.run_sync(service.store.count_jobs, wanted)
        return {
            "jobs": [job_view(j) for j in jobs],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    @post("/api/v1/jobs/{job_id:str}/cancel", status_code=200)
    async def cancel(job_id: str) -> dict[str, Any]:
        """Cancel a job that has not ended (it ends FAILED, error kind ``cancelled``)."""
        await load(job_id)
        job = await service.cancel(job_id)
        return job_view(job or await load(job_id))

    @get("/api/v1/nodes")
    async def nodes() -> dict[str, Any]:
        """Every node the registry knows, with availability and quality."""
        now = registry.clock()
        return {"nodes": [e.describe(now) for e in registry.entries()]}

    @get("/health")
    async def health() -> dict[str, Any]:
        """Liveness: queued jobs and available nodes."""
        queued = await trio.to_thread.run_sync(service.store.count_jobs, JobState.QUEUED)
        up = sum(1 for e in registry.entries() if e.available)
        return {"ok": True, "queued": queued, "nodes": up}

    def error_body(_: Request, exc: Exception) -> Response[dict[str, Any]]:
        if isinstance(exc, ValidationException):
            extra = exc.extra if isinstance(exc.extra, list) else []
            errors = [_field_error(e) for e in extra if isinstance(e, dict)]
            body = {"kind": "validation", "message": exc.detail, "errors": errors}
            return Response(body, status_code=422)
        if isinstance(exc, HTTPException):
            kind = {404: "not_found", 400: "malformed", 503: "queue_full"}.get(
                exc.status_code, "http"
            )
            return Response({"kind": kind, "message": exc.detail}, status_code=exc.status_code)
        return Response({"kind": "internal", "message": str(exc)}, status_code=500)

    return Litestar(
        [submit, job_status, job_result, list_jobs, cancel, nodes, health],
        exception_handlers={Exception: error_body},
        openapi_config=OpenAPIConfig(title="qorch coordinator", version="1"),
        debug=False,
    )
