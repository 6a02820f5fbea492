"""The coordinator's job queue and state machine (FR-006, FR-009, FR-010).

:class:`JobService` accepts jobs (:meth:`JobService.submit` persists a ``QUEUED`` job and
returns at once — nothing is parsed or compiled on the request path), and ``concurrency``
workers take them in submission order through

    QUEUED → COMPILING → RESERVING → EXECUTING → COMPLETED | FAILED

Each transition is written to the store (:meth:`~qorch.store.Store.transition_job`,
which refuses illegal ones) *before* the work of the new state starts, and then announced
to the ``qorch_on_job_state`` observers. Granted reservations are stored as they are
granted (and marked released when given back); every fragment state change is
announced to the ``qorch_on_fragment_state`` observers, and a fragment's record is
stored as soon as it finished (through the :class:`~qorch.coordinator.recorder.Recorder`,
off the critical path); each completed job's figures are stored as metrics.

Cancel (FR-009) is a transition like the others, and every transition is a
compare-and-set on the stored state (``transition_job(..., expected=old)``), so a cancel
and a completion cannot both win: :meth:`JobService.cancel` either moves the live job to
``FAILED`` (error kind ``cancelled``) — then the worker's ``COMPLETED`` write is refused
and its result dropped, its runner is cancelled (remaining fragments stop, windows are
given back) — or finds the job already ended and reports its final state (the API's
409). A worker that finds its job ended by a cancel stops; it never fails the job again.
An ended job is never queued again, so a restart cannot resurrect a cancelled one.

Recovery (FR-010): :meth:`JobService.recover` puts every unfinished job of the store back
on the queue, oldest first. A job that was already past ``QUEUED`` runs again with the
same job id and seed, the plan of its run in progress (stored before that run's first
reservation: no compiling on a snapshot that may have changed) and the reservations the
previous process was granted, so each node's idempotency by (job, fragment, attempt)
answers a fragment that already ran with its stored record instead of running it again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs
import trio
from loguru import logger

from qorch.coordinator.recorder import Recorder
from qorch.coordinator.submission import Submission
from qorch.errors import QorchError, TransitionRefused
from qorch.ingest.load import load_circuit_as
from qorch.ir import Circuit
from qorch.logs import correlation
from qorch.model import FragmentRecord, JobRecord, JobState, ReservationRecord
from qorch.runtime.job import JobFailed, JobOptions, JobResult, QuietJobListener, run_job
from qorch.runtime.plan_runner import FragmentEvent, NodeClient, Timeouts
from qorch.store import Store
from qorch.transport import TransportError

if TYPE_CHECKING:
    from qorch.plugins import PluginSystem

QUEUE_LIMIT = 100_000  # jobs waiting; a submit beyond it is refused (back-pressure)
#: the error of a job a client cancelled
CANCELLED = {"kind": "cancelled", "message": "cancelled by a client"}


class QueueFull(QorchError):
    """Too many jobs are waiting; try again later."""

    kind = "queue_full"


@attrs.frozen
class CancelOutcome:
    """What one cancel request decided (FR-009), atomically with the job's state.

    ``cancelled``: this request ended the job — ``job`` is ``FAILED`` with error kind
    ``cancelled`` and can no longer complete (the API's 200). Otherwise the job had
    already ended and ``job`` holds its final state (the API's 409).
    """

    job: JobRecord
    cancelled: bool


def now() -> dt.datetime:
    """The current UTC time."""
    return dt.datetime.now(dt.UTC)


def new_job_id() -> str:
    """An unguessable job id."""
    return "job-" + secrets.token_hex(8)


class _PersistedJob(QuietJobListener):
    """How the coordinator follows one job (a :class:`~qorch.runtime.job.JobListener`):
    its states and plan stored, its windows recorded, its fragment events announced and
    recorded; a job cancelled while the service stops keeps its windows (FR-010)."""

    def __init__(
        self, service: JobService, job_id: str, on_state: Callable[[str], Awaitable[None]]
    ) -> None:
        self.service = service
        self.job_id = job_id
        self._state = on_state

    async def on_state(self, state: str) -> None:
        """The job's new state, stored and announced."""
        await self._state(state)

    async def on_plan(self, progress: dict[str, Any]) -> None:
        """The run in progress, stored before its first reservation."""
        await self.service._store_plan(self.job_id, progress)

    async def on_reserved(self, run_id: str, node: str, reservation_id: str) -> None:
        """A granted window, stored."""
        await self.service._store_window(self.job_id, "granted", run_id, node, reservation_id)

    async def on_released(self, run_id: str, node: str, reservation_id: str) -> None:
        """A released window, stored."""
        await self.service._store_window(self.job_id, "released", run_id, node, reservation_id)

    async def on_fragment_state(self, event: FragmentEvent) -> None:
        """A fragment event, announced and (once done) recorded."""
        await self.service._fragment_changed(self.job_id, event)

    def keep_windows(self) -> bool:
        """While the service stops, a cancelled job keeps its windows."""
        return self.service.stopping


class JobService:
    """Queue, workers and the persisted state machine (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        plugins: PluginSystem,
        client: NodeClient,
        snapshot: Any,
        *,
        concurrency: int = 4,
        recorder: Recorder | None = None,
        publish: Any = None,
        run_job: Callable[..., Awaitable[JobResult]] = run_job,
    ) -> None:
        self.store = store
        #: writes fragment records and metrics in the background (run by :meth:`run`)
        self.recorder = recorder or Recorder(store)
        self.plugins = plugins
        self.client = client
        self.snapshot: Any = snapshot  # () -> Topology, the latest (FR-008)
        self.concurrency = concurrency
        #: ``publish(event)`` of an :class:`~qorch.coordinator.events.EventHub` (plan events)
        self.publish = publish or (lambda event: None)
        #: how a job runs: :func:`~qorch.runtime.job.run_job` (a test may wrap it)
        self.run_job = run_job
        self._send, self._receive = trio.open_memory_channel[str](QUEUE_LIMIT)
        self._running: dict[str, trio.CancelScope] = {}
        #: set by the server before it stops: running jobs keep their windows and their
        #: state, and the next start resumes them like after a crash (FR-010)
        self.stopping = False

    @property
    def queue_depth(self) -> int:
        """Jobs waiting for a worker."""
        return self._send.statistics().current_buffer_used

    @property
    def running(self) -> int:
        """Jobs a worker is running now."""
        return len(self._running)

    # -- the API's side ---------------------------------------------------------------------

    async def submit(self, request: Submission, *, request_id: str | None = None) -> JobRecord:
        """Persist a new ``QUEUED`` job for ``request`` (submitted by HTTP request
        ``request_id``) and queue it; return the record."""
        at = now()
        job = JobRecord(new_job_id(), JobState.QUEUED, at, at, request=request.stored(request_id))
        if self._send.statistics().current_buffer_used >= QUEUE_LIMIT:
            raise QueueFull(f"{QUEUE_LIMIT} jobs are waiting")
        await trio.to_thread.run_sync(self.store.add_job, job)  # stored before a worker sees it
        self._send.send_nowait(job.job_id)
        self._announce(job.job_id, None, JobState.QUEUED, at, {})
        return job

    async def cancel(self, job_id: str) -> CancelOutcome | None:
        """Cancel a job (FR-009); ``None`` if there is no such job.

        A live job is moved to ``FAILED`` (error kind ``cancelled``) by a compare-and-set
        on the state it was read in — read again and retried if it moved on meanwhile —
        and then stopped: a running job's cancel scope is cancelled (its runner stops
        the remaining fragments and gives its windows back), a waiting one's stored
        windows are given back here. A job that had already ended is returned as it
        ended, ``cancelled`` false. The answer does not wait for the worker to stop.
        """
        job, won = await self._end_failed(job_id, dict(CANCELLED), release_records=False)
        if job is None:
            return None
        if won:
            scope = self._running.get(job_id)
            if scope is not None:
                scope.cancel()  # the worker gives back what its runner did not
            else:
                await self._release_windows(job_id)
        return CancelOutcome(job, won)

    # -- the workers -------------------------------------------------------------------------

    async def recover(self) -> list[str]:
        """Queue every unfinished job of the store again (FR-010); their ids."""
        jobs = await trio.to_thread.run_sync(self.store.unfinished_jobs)
        for job in jobs:
            self._send.send_nowait(job.job_id)
        if jobs:
            logger.info("recovering {} unfinished job(s)", len(jobs))
        return [j.job_id for j in jobs]

    async def run(self) -> None:
        """Run ``concurrency`` workers until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.recorder.run)
            for _ in range(self.concurrency):
                nursery.start_soon(self._worker)

    async def _worker(self) -> None:
        async for job_id in self._receive:
            try:
                with correlation(job_id=job_id):
                    await self._run_one(job_id)
            except Exception as exc:  # a bug must not stop the worker; the job fails
                logger.opt(exception=exc).error("job {} crashed the worker: {}", job_id, exc)
                await self._fail(job_id, {"kind": "internal", "message": str(exc)})

    async def _run_one(self, job_id: str) -> None:
        """Run one job inside a cancel scope that :meth:`cancel` can cancel; the job
        counts as running until its windows are back."""
        scope = trio.CancelScope()
        # registered before the job's state is read: a cancel that ends the job after
        # this finds the scope, one before it leaves a state this worker skips
        self._running[job_id] = scope
        try:
            with scope:
                await self._run_live(job_id, scope)
            if scope.cancel_called:  # ended by a cancel: give back what the runner did not
                await self._release_windows(job_id)
        finally:
            self._running.pop(job_id, None)

    async def _run_live(self, job_id: str, scope: trio.CancelScope) -> None:
        """Compile, reserve, execute and complete ``job_id`` unless it has ended; a
        transition refused because a cancel ended the job cancels ``scope``."""
        job = await trio.to_thread.run_sync(self.store.get_job, job_id)
        if job is None or job.state.terminal:
            return
        state = {"at": job.state}

        async def on_state(name: str) -> None:
            new = JobState(name)
            if not _before(state["at"], new):  # a recovered job may already be past it
                return
            if not await self._advance(job_id, state["at"], new):
                scope.cancel()  # cancelled meanwhile: stop here, windows go back
                await trio.lowlevel.checkpoint()
            state["at"] = new

        await on_state("COMPILING")
        parsed = await self._parse(job)
        if parsed is None:
            return
        try:
            result = await self._execute(job, *parsed, on_state)
        except JobFailed as exc:
            await self._fail(job_id, exc.to_dict())
            return
        except QorchError as exc:
            await self._fail(job_id, _err(exc))
            return
        await on_state("EXECUTING")
        await self._complete(job_id, result)

    async def _parse(self, job: JobRecord) -> tuple[Submission, Circuit] | None:
        """The job's request and circuit; ``None`` once a stored request or a circuit that
        does not parse failed the job."""
        try:
            request = Submission.from_stored(job.request)
            _parser, circuit = load_circuit_as(
                request.qasm.encode(),
                plugins=self.plugins,
                limits=self.plugins.settings.limits,
                format=request.format,
                origin=job.job_id,
            )
        except QorchError as exc:
            await self._fail(job.job_id, exc.to_dict())
            return None
        return request, circuit

    async def _execute(
        self,
        job: JobRecord,
        request: Submission,
        circuit: Circuit,
        on_state: Callable[[str], Awaitable[None]],
    ) -> JobResult:
        """Run the job (from its stored plan and windows when it was recovered)."""
        job_id = job.job_id
        held = await self._held_reservations(job_id)
        options = JobOptions(
            job_id, request, held=held, resume=job.plan, submitted_at=_unix(job.created_at)
        )
        listener = _PersistedJob(self, job_id, on_state)
        return await self.run_job(
            circuit, self.snapshot, self.client, self.plugins, options, listener
        )

    async def _advance(self, job_id: str, old: JobState, new: JobState) -> bool:
        """``old → new`` by compare-and-set; false when a cancel ended the job first."""
        try:
            await self._transition(job_id, old, new)
        except TransitionRefused as refused:
            if not JobState(refused.state).terminal:
                raise  # a second writer of a live job: a bug, not a race
            logger.info("job {} ended {} before it went {}", job_id, refused.state, new)
            return False
        return True

    async def _complete(self, job_id: str, result: JobResult) -> None:
        """``EXECUTING → COMPLETED`` by compare-and-set, then the job's metrics; a job a
        cancel ended first stays ``FAILED`` and its result is dropped."""
        try:
            await self._transition(
                job_id,
                JobState.EXECUTING,
                JobState.COMPLETED,
                result=_json_safe(result.to_dict()),
                figures=result.figures(),
            )
        except TransitionRefused as refused:
            if not JobState(refused.state).terminal:
                raise
            logger.info("job {} was cancelled before it completed: result dropped", job_id)
            return
        self._job_metrics(job_id, result)

    # -- persistence -------------------------------------------------------------------------

    async def _store_plan(self, job_id: str, progress: dict[str, Any]) -> None:
        """Store the run in progress before its first reservation, and announce it."""
        await trio.to_thread.run_sync(self.store.set_job_plan, job_id, _json_safe(progress))
        fragments = len(progress["plan"]["fragments"]) if progress.get("plan") else None
        self.publish(
            {
                "type": "plan",
                "job_id": job_id,
                "run": progress.get("run", 0),
                "fragments": fragments,
            }
        )

    async def _store_window(
        self, job_id: str, state: str, run_id: str, node: str, reservation_id: str
    ) -> None:
        """Store a window of ``job_id`` as ``state`` (granted, released)."""
        at = now()
        record = ReservationRecord(
            reservation_id, job_id, run_id, 0, node, "job", at, at, 0.0, state, at, at
        )
        await trio.to_thread.run_sync(self.store.put_reservation, record)

    async def _held_reservations(self, job_id: str) -> dict[str, dict[str, str]]:
        rows = await trio.to_thread.run_sync(
            lambda: self.store.list_reservations(job_id=job_id, state="granted")
        )
        held: dict[str, dict[str, str]] = {}
        for r in rows:  # fragment_id holds the run id (job id, or job id.k after k fallbacks)
            held.setdefault(r.fragment_id, {})[r.node] = r.reservation_id
        return held

    def _release_records(self, job_id: str) -> None:
        """Mark the job's stored reservations released (the runner cancelled them);
        blocking: run it in a thread."""
        for r in self.store.list_reservations(job_id=job_id, state="granted"):
            self.store.put_reservation(attrs.evolve(r, state="released"))

    async def _fragment_changed(self, job_id: str, event: FragmentEvent) -> None:
        """Announce a fragment event and queue its record once done."""
        # runs after the first fallback carry their run id: job.k/fragment
        key = event.fragment_id if event.run_id == job_id else f"{event.run_id}/{event.fragment_id}"
        nodes = ",".join(event.nodes)
        detail: dict[str, Any] = {"attempt": event.attempt, "run_id": event.run_id}
        if event.error is not None:
            detail["error"] = event.error
        run = event.run
        if run is not None:
            detail["kind"] = run.kind
            if run.started_at is not None and run.ended_at is not None:
                detail["duration_s"] = run.ended_at - run.started_at
            self.recorder.fragment(
                FragmentRecord(
                    job_id,
                    key,
                    run.attempts,
                    run.status,
                    nodes,
                    _at(run.started_at),
                    _at(run.ended_at),
                    {"errors": list(run.errors)} if run.errors else None,
                    {"kind": run.kind, "records": _json_safe(list(run.records))},
                )
            )
        self.plugins.notify(
            "qorch_on_fragment_state",
            job_id=job_id,
            fragment_id=key,
            node=nodes,
            state=event.state,
            at=dt.datetime.fromtimestamp(event.at, dt.UTC).isoformat(),
            detail=detail,
        )

    def _job_metrics(self, job_id: str, result: JobResult) -> None:
        """A completed job's figures as metric samples ``job_<figure>`` labelled with its
        id (FR-012)."""
        for name, value in result.figures().items():
            if value is not None and math.isfinite(value):
                self.recorder.metric(f"job_{name}", float(value), job_id=job_id)

    async def _transition(
        self,
        job_id: str,
        old: JobState,
        new: JobState,
        *,
        error: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        figures: dict[str, Any] | None = None,
        release_records: bool = True,
    ) -> JobRecord:
        """Persist ``old → new`` by compare-and-set on ``old`` (the store raises
        :class:`~qorch.errors.TransitionRefused` when the job is in another state or the
        transition is illegal), then announce it (with the job's
        :meth:`~qorch.runtime.job.JobResult.figures` when it completed). An ending
        transition marks the job's stored windows released unless ``release_records``
        is false (a cancel, which gives them back itself)."""
        at = now()

        def write() -> JobRecord:
            job = self.store.transition_job(
                job_id, new, at=at, error=error, result=result, expected=old
            )
            if new.terminal and release_records:
                self._release_records(job_id)
            return job

        job = await trio.to_thread.run_sync(write)
        self._announce(job_id, old, new, at, {"error": error, "figures": figures})
        return job

    async def _end_failed(
        self, job_id: str, error: dict[str, Any], *, release_records: bool = True
    ) -> tuple[JobRecord | None, bool]:
        """Move a live job to ``FAILED`` with ``error``: (the job after, True) when this
        call ended it, (the job as it ended, False) when it had already ended, (None,
        False) for no such job. Compare-and-set on the state read, read again while the
        job moves on under it (its states only go forward, so this ends)."""
        job = await trio.to_thread.run_sync(self.store.get_job, job_id)
        while job is not None and not job.state.terminal:
            try:
                failed = await self._transition(
                    job_id, job.state, JobState.FAILED, error=error, release_records=release_records
                )
            except TransitionRefused:
                job = await trio.to_thread.run_sync(self.store.get_job, job_id)
                continue
            return failed, True
        return job, False

    async def _fail(self, job_id: str, error: dict[str, Any]) -> None:
        """Fail a live job with ``error``; one that has ended (a cancel) stays as it is."""
        await self._end_failed(job_id, error)

    async def _release_windows(self, job_id: str) -> None:
        """Give back the job's windows still stored as granted — held before a restart,
        or granted while its runner was being built — and mark them released. Shielded:
        it runs while the worker is cancelled. A node that does not answer keeps the
        window until it expires (FR-005)."""
        with trio.CancelScope(shield=True):
            rows = await trio.to_thread.run_sync(
                lambda: self.store.list_reservations(job_id=job_id, state="granted")
            )
            for r in rows:  # fragment_id holds the run id the window was granted to
                body = {
                    "correlation": {
                        "job_id": r.fragment_id,
                        "fragment_id": "*",
                        "attempt": 0,
                        "request_id": f"{r.fragment_id}-cancel-{r.node}",
                    },
                    "reservation_id": r.reservation_id,
                }
                with contextlib.suppress(TransportError):
                    await self.client.call(r.node, "cancel", body, Timeouts().release)
                released = attrs.evolve(r, state="released")
                await trio.to_thread.run_sync(self.store.put_reservation, released)

    def _announce(
        self, job_id: str, old: JobState | None, new: JobState, at: dt.datetime, detail: dict
    ) -> None:
        self.plugins.notify(
            "qorch_on_job_state",
            job_id=job_id,
            old=old.value if old else None,
            new=new.value,
            at=at.isoformat(),
            detail={k: v for k, v in detail.items() if v is not None},
        )


_ORDER = list(JobState)


def _before(old: JobState, new: JobState) -> bool:
    return _ORDER.index(old) < _ORDER.index(new)


def _err(exc: Exception) -> dict[str, Any]:
    return {"kind": getattr(exc, "kind", "error"), "message": str(exc)}


def _at(t: float | None) -> dt.datetime | None:
    return None if t is None else dt.datetime.fromtimestamp(t, dt.UTC)


def _json_safe(value: Any) -> Any:
    """Plain JSON data: tuples as lists, non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _unix(at: dt.datetime) -> float:
    """Unix time of a stored timestamp (naive ones are UTC)."""
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).timestamp()
