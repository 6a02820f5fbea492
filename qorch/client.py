"""The Python client of the coordinator's job API (FR-009, FR-014; issue 21).

:class:`Client` (synchronous) and :class:`AsyncClient` (trio) talk to a running
coordinator (``qorch up`` / ``qorch coordinator``) over httpx::

    from qorch.client import Client

    with Client("http://127.0.0.1:8700", api_key=None) as client:
        job_id = client.submit("examples/circuits/bell.qasm", shots=1000, seed=7)
        job = client.wait(job_id)          # follows the job's websocket, polls as fallback
        print(client.result(job_id).counts)

A circuit is OpenQASM 2/3 text, a file (a :class:`~pathlib.Path`, or a ``str`` naming a
file that holds no ``;``), or a qiskit ``QuantumCircuit`` (converted by
:mod:`qorch.qiskit_bridge` and sent as OpenQASM 3). Every refusal is an
:class:`ApiError` subclass chosen by the HTTP status (:data:`ERRORS`: 401
:class:`Unauthorized`, 403 :class:`Forbidden`, 404 :class:`NotFound`, 409
:class:`Conflict`, 413 :class:`TooLarge`, 422 :class:`Invalid`, 429 :class:`RateLimited`,
503 :class:`Unavailable`) carrying the API's ``kind``, ``message`` and field ``errors``;
a coordinator that does not answer is :class:`Unreachable`. The request building and the
answer reading are shared by both clients (:class:`_Call`): only the transport differs.
The CLI's client commands (:mod:`qorch.cli.client_cmd`) use :class:`Client`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

import attrs
import httpx
import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from qorch.config import LimitsSettings
from qorch.coordinator.events import JobProgress, decode
from qorch.errors import QorchError

DEFAULT_URL = "http://127.0.0.1:8700"
TERMINAL = frozenset({"COMPLETED", "FAILED"})
#: how often :meth:`Client.wait` polls when the websocket cannot be followed (seconds)
POLL_S = 0.2
#: the client-side limits of a qiskit circuit's conversion: the coordinator checks its own
CLIENT_LIMITS = LimitsSettings(max_qubits=2**31, max_operations=2**31)

T = TypeVar("T")
Progress = Callable[[JobProgress], None]


@attrs.frozen
class FieldError:
    """One problem of a refused request (a 422's ``errors`` entry): its field and why."""

    field: str | None
    message: str


class ApiError(QorchError):
    """The coordinator refused a request: the API's ``kind`` and ``message``, the HTTP
    ``status``, the field ``errors`` of a 422, ``where`` (method and URL) and the
    answer's JSON ``body``."""

    kind = "api"

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        errors: tuple[FieldError, ...] = (),
        where: str = "",
        body: dict[str, Any] | None = None,
    ) -> None:
        text = f"{kind}: {message}" + "".join(f"\n  {e.field}: {e.message}" for e in errors)
        super().__init__(text)
        self.kind = kind
        self.message = message
        self.status = status
        self.errors = errors
        self.where = where
        self.body = body or {}

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON: ``kind``, ``message``, ``status``, ``where``, ``errors``."""
        return {
            "kind": self.kind,
            "message": self.message,
            "status": self.status,
            "where": self.where,
            "errors": [attrs.asdict(e) for e in self.errors],
        }


class Unreachable(ApiError):
    """No answer: the coordinator is down, or the URL is wrong (kind ``unreachable``)."""


class BadReply(ApiError):
    """An answer that is not the API's JSON (kind ``bad_reply``)."""


class Unauthorized(ApiError):
    """401: no API key, or an unknown one."""


class Forbidden(ApiError):
    """403: the key lacks the role the request needs."""


class NotFound(ApiError):
    """404: no such job."""


class Conflict(ApiError):
    """409: a result asked of a job that has not completed (kind ``not_ready`` or
    ``failed``), or a cancel of a job that had already ended (``conflict``); ``state``
    is the job's state."""

    @property
    def state(self) -> str | None:
        """The job's state when the coordinator answered."""
        return self.body.get("state")


class TooLarge(ApiError):
    """413: the request body is over the coordinator's ``api.max_body_bytes``."""


class Invalid(ApiError):
    """422: a bad body or query; ``errors`` has one entry per field."""


class RateLimited(ApiError):
    """429: over the key's rate limit; ``retry_after`` is the seconds to wait (if said)."""

    retry_after: float | None = None


class Unavailable(ApiError):
    """503: the job queue is full."""


#: the exception of each refused status (anything else: :class:`ApiError`)
ERRORS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    422: Invalid,
    429: RateLimited,
    503: Unavailable,
}


def api_error(reply: httpx.Response, where: str) -> ApiError:
    """The typed exception of a refused request (:data:`ERRORS`), from its JSON body."""
    try:
        body = reply.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = reply.text[:200]
        return BadReply("bad_reply", f"{reply.status_code} without JSON: {text!r}", where=where)
    errors = tuple(
        FieldError(e.get("field"), str(e.get("message", "")))
        for e in body.get("errors") or []
        if isinstance(e, dict)
    )
    cls = ERRORS.get(reply.status_code, ApiError)
    error = cls(
        str(body.get("kind", "http")),
        str(body.get("message", "")),
        status=reply.status_code,
        errors=errors,
        where=where,
        body=body,
    )
    if isinstance(error, RateLimited) and "retry-after" in reply.headers:
        error.retry_after = float(reply.headers["retry-after"])
    return error


@attrs.frozen
class Job:
    """A job's status (``GET /api/v1/jobs/{id}``): ``state`` is ``QUEUED``,
    ``COMPILING``, ``RESERVING``, ``EXECUTING``, ``COMPLETED`` or ``FAILED``; ``error``
    the failure's ``{"kind", "message", ...}``; ``raw`` the API's JSON as it came."""

    job_id: str
    state: str
    created_at: str
    updated_at: str
    error: dict[str, Any] | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    @property
    def ended(self) -> bool:
        """Whether the job is ``COMPLETED`` or ``FAILED`` (it will not change again)."""
        return self.state in TERMINAL

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Job:
        """A status as the API answers it."""
        return cls(
            body["job_id"],
            body["state"],
            body.get("created_at", ""),
            body.get("updated_at", ""),
            body.get("error"),
            raw=body,
        )


@attrs.frozen
class JobResult:
    """A completed job's result (``GET /api/v1/jobs/{id}/result``): counts keyed by
    outcome, the estimated and achieved fidelity, ebits, the executed circuit when asked
    for; ``raw`` holds every other figure (timings, fragments per node, retries, ...)."""

    job_id: str
    counts: dict[str, int]
    shots: int
    estimated_fidelity: float
    achieved_fidelity: float | None
    ebits: int
    executed_qasm3: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> JobResult:
        """A result as the API answers it."""
        return cls(
            body["job_id"],
            dict(body["counts"]),
            body["shots"],
            body["estimated_fidelity"],
            body.get("achieved_fidelity"),
            body["ebits"],
            body.get("executed_qasm3"),
            raw=body,
        )


@attrs.frozen
class JobPage:
    """One page of ``GET /api/v1/jobs``: jobs oldest first, and how many there are."""

    jobs: tuple[Job, ...]
    total: int
    limit: int
    offset: int
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> JobPage:
        """A listing as the API answers it."""
        jobs = tuple(Job.from_json(j) for j in body["jobs"])
        return cls(jobs, body["total"], body["limit"], body["offset"], raw=body)


@attrs.frozen
class Health:
    """``/health`` (FR-012): the overall ``status`` (``ok``, ``degraded``, ``down``),
    available ``nodes``, ``queued`` jobs and each check's report."""

    status: str
    nodes: int
    queued: int
    checks: dict[str, dict[str, Any]]
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    @property
    def ok(self) -> bool:
        """Whether every check is ``ok``."""
        return self.status == "ok"

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Health:
        """A health report as the API answers it (with 200 or 503)."""
        checks = body.get("checks", {})
        return cls(body["status"], body.get("nodes", 0), body.get("queued", 0), checks, raw=body)


@attrs.frozen
class _Call(Generic[T]):
    """One API request and how to read its answer: the statuses that are answers (others
    raise :func:`api_error`) and the reader of the JSON body."""

    method: str
    path: str
    read: Callable[[Any], T]
    json: Any = None
    params: dict[str, Any] | None = None
    ok: tuple[int, ...] = (200,)

    def answer(self, reply: httpx.Response) -> T:
        """The answer's value, or the typed exception of a refusal."""
        where = f"{self.method} {reply.request.url}"
        if reply.status_code not in self.ok:
            raise api_error(reply, where)
        try:
            body = reply.json()
        except ValueError:
            raise BadReply("bad_reply", f"{reply.status_code} without JSON", where=where) from None
        return self.read(body)


def _qasm_of(circuit: Any) -> tuple[str, str | None]:
    """The OpenQASM text of ``circuit`` and its format when known (``None``: the header
    says): text, a file (a path, or a ``str`` without ``;``), or a qiskit circuit."""
    if isinstance(circuit, os.PathLike) or (isinstance(circuit, str) and ";" not in circuit):
        path = Path(circuit)
        try:
            return path.read_text(encoding="utf-8"), None
        except (OSError, UnicodeDecodeError) as exc:
            raise ApiError("io", f"cannot read {path}: {exc}", where=str(path)) from None
    if isinstance(circuit, str):
        return circuit, None
    if type(circuit).__module__.startswith("qiskit"):
        # qiskit takes a second to import: only when a qiskit circuit is submitted
        from qorch.qasm_emit import to_qasm3  # with the bridge: only for qiskit input
        from qorch.qiskit_bridge import from_qiskit  # (the same reason)

        return to_qasm3(from_qiskit(circuit, CLIENT_LIMITS, name=circuit.name or "")), "qasm3"
    raise TypeError(f"a circuit is QASM text, a path or a QuantumCircuit, not {type(circuit)}")


def submit_call(
    circuit: Any,
    *,
    shots: int | None = None,
    seed: int = 0,
    strategy: str | None = None,
    min_fidelity: float | None = None,
    format: str | None = None,
) -> _Call[str]:
    """``POST /api/v1/circuits/submit`` of ``circuit`` (:func:`_qasm_of`); answers the
    job id."""
    qasm, known = _qasm_of(circuit)
    body: dict[str, Any] = {"qasm": qasm, "format": format or known or "auto", "seed": seed}
    optional = {"shots": shots, "strategy": strategy, "min_fidelity": min_fidelity}
    body.update({k: v for k, v in optional.items() if v is not None})
    return _Call("POST", "/api/v1/circuits/submit", lambda b: str(b["job_id"]), body, ok=(202,))


def status_call(job_id: str) -> _Call[Job]:
    """``GET /api/v1/jobs/{id}``."""
    return _Call("GET", f"/api/v1/jobs/{job_id}", Job.from_json)


def result_call(job_id: str, executed: bool = False) -> _Call[JobResult]:
    """``GET /api/v1/jobs/{id}/result`` (``executed``: with the executed circuit)."""
    params = {"include": "executed"} if executed else None
    return _Call("GET", f"/api/v1/jobs/{job_id}/result", JobResult.from_json, params=params)


def cancel_call(job_id: str) -> _Call[Job]:
    """``POST /api/v1/jobs/{id}/cancel``."""
    return _Call("POST", f"/api/v1/jobs/{job_id}/cancel", Job.from_json)


def jobs_call(state: str | None = None, limit: int = 100, offset: int = 0) -> _Call[JobPage]:
    """``GET /api/v1/jobs`` (one page)."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if state:
        params["state"] = state
    return _Call("GET", "/api/v1/jobs", JobPage.from_json, params=params)


def nodes_call() -> _Call[list[dict[str, Any]]]:
    """``GET /api/v1/nodes``: the registry's entries (``node``, ``qubits``, ``fidelity``,
    ``availability``, ``services``, ...)."""
    return _Call("GET", "/api/v1/nodes", lambda b: list(b["nodes"]))


def health_call() -> _Call[Health]:
    """``GET /health`` (a 503 is an answer: the report says what is not ok)."""
    return _Call("GET", "/health", Health.from_json, ok=(200, 503))


def _base(url: str | None) -> str:
    return (url or os.environ.get("QORCH_URL") or DEFAULT_URL).rstrip("/")


def _headers(api_key: str | None) -> dict[str, str]:
    return {"X-API-Key": api_key} if api_key else {}


def events_url(url: str, job_id: str, api_key: str | None) -> str:
    """The websocket URL of a job's events (the key as ``?api_key=``: browsers and
    websocket clients cannot always set headers)."""
    ws = url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return ws + f"/api/v1/jobs/{job_id}/events" + (f"?api_key={api_key}" if api_key else "")


async def follow_events(ws_url: str, job_id: str, on_progress: Progress | None) -> JobProgress:
    """Read a job's event stream until it ends or the socket closes; the job's progress
    (:class:`~qorch.coordinator.events.JobProgress`), handed to ``on_progress`` after
    every message. A refused handshake is :class:`Unreachable`."""
    state = JobProgress(job_id)
    try:
        async with open_websocket_url(ws_url) as sock:
            while not state.ended:
                for event in decode(await sock.get_message()):
                    state.update(event)
                if on_progress is not None:
                    on_progress(state)
    except ConnectionClosed:
        pass
    except HandshakeError as exc:
        raise Unreachable("unreachable", f"websocket refused: {exc}", where=ws_url) from None
    return state


class Client:
    """A synchronous client of one coordinator's job API (module docstring). ``url``
    defaults to ``$QORCH_URL`` or :data:`DEFAULT_URL`; ``api_key`` is sent as
    ``X-API-Key`` (FR-014). Close it (or use it as a context manager) to free its
    keep-alive connection."""

    def __init__(self, url: str | None = None, api_key: str | None = None, timeout: float = 30.0):
        self.url = _base(url)
        self.api_key = api_key
        self.http = httpx.Client(base_url=self.url, headers=_headers(api_key), timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection."""
        self.http.close()

    def call(self, call: _Call[T]) -> T:
        """Make one request; its answer (:class:`Unreachable` if there is none)."""
        try:
            reply = self.http.request(call.method, call.path, json=call.json, params=call.params)
        except httpx.HTTPError as exc:
            raise _unreachable(self.url, call, exc) from None
        return call.answer(reply)

    def submit(self, circuit: Any, **options: Any) -> str:
        """Queue ``circuit`` (QASM text, a file, a ``QuantumCircuit``); its job id.
        ``options``: ``shots``, ``seed``, ``strategy``, ``min_fidelity``, ``format``."""
        return self.call(submit_call(circuit, **options))

    def status(self, job_id: str) -> Job:
        """The job's status (:class:`NotFound` if there is no such job)."""
        return self.call(status_call(job_id))

    def result(self, job_id: str, *, executed: bool = False) -> JobResult:
        """A completed job's result; :class:`Conflict` (with the job's state) before."""
        return self.call(result_call(job_id, executed))

    def cancel(self, job_id: str) -> Job:
        """Cancel the job: it is then ``FAILED`` (kind ``cancelled``); :class:`Conflict`
        with its final ``state`` if it had already ended."""
        return self.call(cancel_call(job_id))

    def jobs(self, state: str | None = None, *, limit: int = 100, offset: int = 0) -> JobPage:
        """One page of the coordinator's jobs, oldest first (``state``: only those)."""
        return self.call(jobs_call(state, limit, offset))

    def nodes(self) -> list[dict[str, Any]]:
        """The coordinator's node registry."""
        return self.call(nodes_call())

    def health(self) -> Health:
        """The coordinator's readiness report."""
        return self.call(health_call())

    def wait(self, job_id: str, timeout: float = 600.0, on_progress: Progress | None = None) -> Job:
        """Follow the job until it ends or ``timeout`` seconds pass; its last status
        (``.ended`` says which). Over its websocket (``on_progress`` sees each update),
        polling the status when the websocket cannot be followed."""
        end = time.monotonic() + timeout
        ws = events_url(self.url, job_id, self.api_key)

        async def follow() -> None:
            with trio.move_on_after(timeout):
                await follow_events(ws, job_id, on_progress)

        # no websocket (or a trio loop already running in this thread): poll instead
        with contextlib.suppress(OSError, ApiError, ValueError, RuntimeError):
            trio.run(follow)
        while True:
            job = self.status(job_id)
            if job.ended or time.monotonic() >= end:
                return job
            time.sleep(POLL_S)

    def run(self, circuit: Any, timeout: float = 600.0, **options: Any) -> JobResult:
        """Submit, wait and return the result; a job that fails raises :class:`Conflict`
        (kind ``failed``, the job's error in ``body``)."""
        job_id = self.submit(circuit, **options)
        self.wait(job_id, timeout)
        return self.result(job_id)


class AsyncClient:
    """The :class:`Client` for trio code (httpx's async client runs on trio through
    anyio): the same methods, awaited."""

    def __init__(self, url: str | None = None, api_key: str | None = None, timeout: float = 30.0):
        self.url = _base(url)
        self.api_key = api_key
        self.http = httpx.AsyncClient(base_url=self.url, headers=_headers(api_key), timeout=timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, *exc: type[BaseException] | BaseException | TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection."""
        await self.http.aclose()

    async def call(self, call: _Call[T]) -> T:
        """Make one request; its answer (:class:`Unreachable` if there is none)."""
        try:
            reply = await self.http.request(
                call.method, call.path, json=call.json, params=call.params
            )
        except httpx.HTTPError as exc:
            raise _unreachable(self.url, call, exc) from None
        return call.answer(reply)

    async def submit(self, circuit: Any, **options: Any) -> str:
        """:meth:`Client.submit`."""
        return await self.call(submit_call(circuit, **options))

    async def status(self, job_id: str) -> Job:
        """:meth:`Client.status`."""
        return await self.call(status_call(job_id))

    async def result(self, job_id: str, *, executed: bool = False) -> JobResult:
        """:meth:`Client.result`."""
        return await self.call(result_call(job_id, executed))

    async def cancel(self, job_id: str) -> Job:
        """:meth:`Client.cancel`."""
        return await self.call(cancel_call(job_id))

    async def jobs(self, state: str | None = None, *, limit: int = 100, offset: int = 0) -> JobPage:
        """:meth:`Client.jobs`."""
        return await self.call(jobs_call(state, limit, offset))

    async def nodes(self) -> list[dict[str, Any]]:
        """:meth:`Client.nodes`."""
        return await self.call(nodes_call())

    async def health(self) -> Health:
        """:meth:`Client.health`."""
        return await self.call(health_call())

    async def wait(
        self, job_id: str, timeout: float = 600.0, on_progress: Progress | None = None
    ) -> Job:
        """:meth:`Client.wait`."""
        end = trio.current_time() + timeout
        with trio.move_on_after(timeout):
            with contextlib.suppress(OSError, ApiError, ValueError):  # no websocket: poll
                await follow_events(events_url(self.url, job_id, self.api_key), job_id, on_progress)
        while True:
            job = await self.status(job_id)
            if job.ended or trio.current_time() >= end:
                return job
            await trio.sleep(POLL_S)

    async def run(self, circuit: Any, timeout: float = 600.0, **options: Any) -> JobResult:
        """:meth:`Client.run`."""
        job_id = await self.submit(circuit, **options)
        await self.wait(job_id, timeout)
        return await self.result(job_id)


def _unreachable(url: str, call: _Call[Any], exc: Exception) -> Unreachable:
    """The error of a request that got no answer."""
    where = f"{call.method} {url}{call.path}"
    return Unreachable("unreachable", f"no answer from {url}: {exc}", where=where)
