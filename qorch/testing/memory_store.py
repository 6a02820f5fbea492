"""An in-memory :class:`~qorch.store.Store` for unit tests (never registered as a plugin).

It keeps the same semantics as a real store — compare-and-set transitions, upserts,
ordering, a pending "migration" until :meth:`upgrade` — and passes the same contract
tests, so unit tests that use it mean the same against SQLite.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from typing import Any

import attrs

from qorch.errors import StoreError, TransitionRefused
from qorch.model import (
    AdvertRecord,
    ApiKeyRecord,
    FragmentRecord,
    JobRecord,
    JobState,
    MetricSample,
    MigrationStatus,
    QualityReport,
    ReservationRecord,
    can_transition,
)
from qorch.store import Store

MIGRATIONS = ("001_memory",)


class MemoryStore(Store):
    """Dicts and lists behind the Store interface."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._empty()

    def _empty(self) -> None:
        """Hold nothing, as a new store does."""
        self.applied: list[str] = []
        self.jobs: dict[str, JobRecord] = {}
        self.fragments: dict[tuple[str, str, int], FragmentRecord] = {}
        self.reservations: dict[str, ReservationRecord] = {}
        self.adverts: dict[str, AdvertRecord] = {}
        self.reports: list[QualityReport] = []
        self.metrics: list[MetricSample] = []
        self.api_keys: dict[str, ApiKeyRecord] = {}

    def open(self) -> None:
        """Nothing to connect."""

    def close(self) -> None:
        """Nothing to disconnect."""

    def status(self) -> MigrationStatus:
        """One pseudo-migration, pending until upgraded."""
        return MigrationStatus(list(self.applied), [n for n in MIGRATIONS if n not in self.applied])

    def upgrade(self, target: str | None = None) -> list[str]:
        """Apply the pseudo-migration."""
        if target is not None and target not in MIGRATIONS:
            raise StoreError(f"no migration named {target!r}")
        todo = self.status().pending
        self.applied.extend(todo)
        return todo

    def downgrade(self, steps: int = 1) -> list[str]:
        """Roll back (and forget everything, like dropping the tables)."""
        undone = list(reversed(self.applied[-steps:])) if steps else []
        self.applied = self.applied[: len(self.applied) - len(undone)]
        if not self.applied:
            self._empty()
        return undone

    def _ready(self) -> None:
        if self.status().pending:
            raise StoreError("memory store needs `upgrade()` first")

    def add_job(self, job: JobRecord) -> None:
        """Insert; duplicates raise."""
        self._ready()
        if job.job_id in self.jobs:
            raise StoreError(f"job {job.job_id!r} already exists")
        self.jobs[job.job_id] = job

    def get_job(self, job_id: str) -> JobRecord | None:
        """The job or None."""
        self._ready()
        return self.jobs.get(job_id)

    def set_job_plan(self, job_id: str, plan: dict[str, Any]) -> None:
        """Replace the job's plan."""
        self._ready()
        job = self.jobs.get(job_id)
        if job is None:
            raise StoreError(f"no job {job_id!r}")
        self.jobs[job_id] = attrs.evolve(job, plan=copy.deepcopy(plan))

    def transition_job(
        self,
        job_id: str,
        new: JobState,
        *,
        at: dt.datetime,
        error: dict | None = None,
        result: dict | None = None,
        expected: JobState | None = None,
    ) -> JobRecord:
        """Compare-and-set (under a lock: callers run it in worker threads)."""
        self._ready()
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                raise StoreError(f"no job {job_id!r}")
            if (expected is not None and job.state is not expected) or not can_transition(
                job.state, new
            ):
                raise TransitionRefused(job_id, job.state, new, expected)
            job = attrs.evolve(
                job,
                state=new,
                updated_at=at,
                error=error if error is not None else job.error,
                result=result if result is not None else job.result,
            )
            self.jobs[job_id] = job
            return job

    def list_jobs(
        self, state: JobState | None = None, limit: int = 100, offset: int = 0
    ) -> list[JobRecord]:
        """Oldest first."""
        self._ready()
        jobs = sorted(
            (j for j in self.jobs.values() if state is None or j.state == state),
            key=lambda j: (j.created_at, j.job_id),
        )
        return jobs[offset : offset + limit]

    def count_jobs(self, state: JobState | None = None) -> int:
        """Number of jobs."""
        self._ready()
        return sum(1 for j in self.jobs.values() if state is None or j.state == state)

    def put_fragment(self, fragment: FragmentRecord) -> None:
        """Upsert."""
        self._ready()
        self.fragments[(fragment.job_id, fragment.fragment_id, fragment.attempt)] = fragment

    def list_fragments(self, job_id: str) -> list[FragmentRecord]:
        """By fragment id then attempt."""
        self._ready()
        return [f for k, f in sorted(self.fragments.items()) if k[0] == job_id]

    def put_reservation(self, reservation: ReservationRecord) -> None:
        """Upsert."""
        self._ready()
        self.reservations[reservation.reservation_id] = reservation

    def get_reservation(self, reservation_id: str) -> ReservationRecord | None:
        """The reservation or None."""
        self._ready()
        return self.reservations.get(reservation_id)

    def list_reservations(
        self, *, job_id: str | None = None, node: str | None = None, state: str | None = None
    ) -> list[ReservationRecord]:
        """Filtered, by window start."""
        self._ready()
        found = [
            r
            for r in self.reservations.values()
            if (job_id is None or r.job_id == job_id)
            and (node is None or r.node == node)
            and (state is None or r.state == state)
        ]
        return sorted(found, key=lambda r: (r.window_start, r.reservation_id))

    def put_advert(self, advert: AdvertRecord) -> None:
        """Upsert."""
        self._ready()
        self.adverts[advert.node_id] = advert

    def list_adverts(self) -> list[AdvertRecord]:
        """By node id."""
        self._ready()
        return [self.adverts[k] for k in sorted(self.adverts)]

    def add_quality_report(self, report: QualityReport) -> None:
        """Append."""
        self._ready()
        self.reports.append(report)

    def list_quality_reports(
        self, subject: str | None = None, since: dt.datetime | None = None, limit: int = 1000
    ) -> list[QualityReport]:
        """Newest first."""
        self._ready()
        found = [
            (r.at, i, r)
            for i, r in enumerate(self.reports)
            if (subject is None or r.subject == subject) and (since is None or r.at >= since)
        ]
        return [r for _, _, r in sorted(found, key=lambda t: (t[0], t[1]), reverse=True)][:limit]

    def add_metric(self, sample: MetricSample) -> None:
        """Append."""
        self._ready()
        self.metrics.append(sample)

    def list_metrics(
        self, name: str | None = None, since: dt.datetime | None = None, limit: int = 1000
    ) -> list[MetricSample]:
        """Newest first."""
        self._ready()
        found = [
            (s.at, i, s)
            for i, s in enumerate(self.metrics)
            if (name is None or s.name == name) and (since is None or s.at >= since)
        ]
        return [s for _, _, s in sorted(found, key=lambda t: (t[0], t[1]), reverse=True)][:limit]

    def add_api_key(self, record: ApiKeyRecord) -> None:
        """Insert; a known name or hash raises."""
        self._ready()
        if record.name in self.api_keys:
            raise StoreError(f"an API key named {record.name!r} already exists")
        if any(k.key_hash == record.key_hash for k in self.api_keys.values()):
            raise StoreError("an API key with this hash already exists")
        self.api_keys[record.name] = record

    def get_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The record of this hash or None."""
        self._ready()
        return next((k for k in self.api_keys.values() if k.key_hash == key_hash), None)

    def list_api_keys(self) -> list[ApiKeyRecord]:
        """By name."""
        self._ready()
        return [self.api_keys[n] for n in sorted(self.api_keys)]

    def delete_api_key(self, name: str) -> bool:
        """Forget the key; False if unknown."""
        self._ready()
        return self.api_keys.pop(name, None) is not None
