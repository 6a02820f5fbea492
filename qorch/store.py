"""The store kind (FR-010): what every persistence back end provides.

The kernel defines the interface; the default implementation is the ``qorch-sqlite``
plugin (peewee, SQLite in WAL mode), selected by ``[store] backend``. Methods are
synchronous — callers in the trio loop go through ``trio.to_thread`` — and every write is
durable when the method returns, so a state change can be persisted before it is acted on.

Contract tests in :mod:`qorch.testing.store_contract` run against every installed store.
"""

from __future__ import annotations

import abc
import datetime as dt
from contextlib import AbstractContextManager, nullcontext
from types import TracebackType
from typing import Any

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
)


class Store(abc.ABC):
    """A persistence back end: jobs, fragments, reservations, adverts, quality, metrics,
    API keys.

    Lifecycle: :meth:`open`, then :meth:`upgrade` (or check :meth:`status`), then use,
    then :meth:`close`. Using the store while migrations are pending raises
    :class:`~qorch.errors.StoreError`.
    """

    # -- lifecycle and schema ----------------------------------------------------------

    @abc.abstractmethod
    def open(self) -> None:
        """Connect (creating the database if needed)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Disconnect; safe to call twice."""

    @abc.abstractmethod
    def status(self) -> MigrationStatus:
        """Applied and pending schema migrations, by name, oldest first."""

    @abc.abstractmethod
    def upgrade(self, target: str | None = None) -> list[str]:
        """Apply pending migrations up to ``target`` (all if None); return those applied."""

    @abc.abstractmethod
    def downgrade(self, steps: int = 1) -> list[str]:
        """Roll back the last ``steps`` migrations; return those rolled back, newest first."""

    def batch(self) -> AbstractContextManager[None]:
        """A context in which many writes may share one transaction (cheaper than one
        each); the default runs each write on its own."""
        return nullcontext()

    def __enter__(self) -> Store:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- jobs ------------------------------------------------------------------------

    @abc.abstractmethod
    def add_job(self, job: JobRecord) -> None:
        """Insert a new job; a duplicate ``job_id`` raises StoreError."""

    @abc.abstractmethod
    def get_job(self, job_id: str) -> JobRecord | None:
        """The job, or ``None``."""

    @abc.abstractmethod
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
        """Atomically move a job to ``new`` if that transition is legal — and, with
        ``expected``, only if the job is in that state now (compare-and-set, FR-009).

        Sets ``updated_at`` to ``at`` and, when given, ``error``/``result``. Raises
        :class:`~qorch.errors.StoreError` for an unknown job, and its subclass
        :class:`~qorch.errors.TransitionRefused` (carrying the state found) for an illegal
        transition (:data:`qorch.model.JOB_TRANSITIONS`) or a state other than
        ``expected``, leaving the job unchanged. The check and the write are one
        transaction: of two callers racing to end a job, exactly one wins.
        """

    @abc.abstractmethod
    def set_job_plan(self, job_id: str, plan: dict[str, Any]) -> None:
        """Replace the job's ``plan`` (the run in progress); an unknown job raises
        :class:`~qorch.errors.StoreError`. The state and timestamps are not touched."""

    @abc.abstractmethod
    def list_jobs(
        self, state: JobState | None = None, limit: int = 100, offset: int = 0
    ) -> list[JobRecord]:
        """Jobs (optionally in one state), oldest first, paged."""

    @abc.abstractmethod
    def count_jobs(self, state: JobState | None = None) -> int:
        """How many jobs (optionally in one state)."""

    def unfinished_jobs(self) -> list[JobRecord]:
        """Every job not yet COMPLETED or FAILED, oldest first (for recovery, FR-010)."""
        out: list[JobRecord] = []
        for state in JobState:
            if not state.terminal:
                out.extend(self.list_jobs(state, limit=1_000_000))
        return sorted(out, key=lambda j: (j.created_at, j.job_id))

    # -- fragments -----------------------------------------------------------------------

    @abc.abstractmethod
    def put_fragment(self, fragment: FragmentRecord) -> None:
        """Insert or replace the record of ``(job_id, fragment_id, attempt)``."""

    @abc.abstractmethod
    def list_fragments(self, job_id: str) -> list[FragmentRecord]:
        """Fragment records of a job, by fragment id then attempt."""

    # -- reservations --------------------------------------------------------------------

    @abc.abstractmethod
    def put_reservation(self, reservation: ReservationRecord) -> None:
        """Insert or replace a reservation by ``reservation_id``."""

    @abc.abstractmethod
    def get_reservation(self, reservation_id: str) -> ReservationRecord | None:
        """The reservation, or ``None``."""

    @abc.abstractmethod
    def list_reservations(
        self, *, job_id: str | None = None, node: str | None = None, state: str | None = None
    ) -> list[ReservationRecord]:
        """Reservations matching every given filter, by window start."""

    # -- adverts -------------------------------------------------------------------------

    @abc.abstractmethod
    def put_advert(self, advert: AdvertRecord) -> None:
        """Insert or replace the cached advert of ``node_id``."""

    @abc.abstractmethod
    def list_adverts(self) -> list[AdvertRecord]:
        """Every cached advert, by node id (callers judge staleness by ``expires_at``)."""

    # -- quality reports and metrics -------------------------------------------------------

    @abc.abstractmethod
    def add_quality_report(self, report: QualityReport) -> None:
        """Append a quality report."""

    @abc.abstractmethod
    def list_quality_reports(
        self, subject: str | None = None, since: dt.datetime | None = None, limit: int = 1000
    ) -> list[QualityReport]:
        """Reports (for one subject, at or after ``since``), newest first, at most ``limit``.

        Reports with equal times come later-added first.
        """

    @abc.abstractmethod
    def add_metric(self, sample: MetricSample) -> None:
        """Append a metric sample."""

    @abc.abstractmethod
    def list_metrics(
        self, name: str | None = None, since: dt.datetime | None = None, limit: int = 1000
    ) -> list[MetricSample]:
        """Samples (of one metric, at or after ``since``), newest first, at most ``limit``.

        Samples with equal times come later-added first.
        """

    # -- API keys (FR-014) -------------------------------------------------------------

    @abc.abstractmethod
    def add_api_key(self, record: ApiKeyRecord) -> None:
        """Insert a key's record (its hash, never the key); a ``name`` or ``key_hash`` that
        is already stored raises :class:`~qorch.errors.StoreError`, keeping the first."""

    @abc.abstractmethod
    def get_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The record whose ``key_hash`` this is, or ``None``."""

    @abc.abstractmethod
    def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every key's record, by name."""

    @abc.abstractmethod
    def delete_api_key(self, name: str) -> bool:
        """Forget the key named ``name``; ``False`` if there was none."""
