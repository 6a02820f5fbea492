"""The SQLite store (FR-010): peewee models, WAL, peewee-migrate migrations.

Every write runs in its own transaction and is durable when the method returns. A
:class:`SqliteStore` binds the models to its own database, so several stores (different
files) can live in one process, e.g. a coordinator and a test.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import peewee as pw
from peewee_migrate import Router

from qorch.errors import StoreError
from qorch.model import (
    AdvertRecord,
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
from qorch_sqlite import models as m
from qorch_sqlite.plugin import SqliteOptions

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATE_TABLE = "qorch_migrations"


def _ts(value: dt.datetime | None) -> str | None:
    """UTC ISO text with microseconds, so that text order is time order."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _dt(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _load(value: str | None) -> Any:
    return None if value is None else json.loads(value)


class _Router(Router):  # type: ignore[misc]
    """A peewee-migrate router whose history model is bound to this database only."""

    @property
    def model(self) -> type[pw.Model]:
        if not hasattr(self, "_history"):
            database, table = self.database, self.migrate_table

            class History(pw.Model):
                name = pw.CharField()
                migrated_at = pw.DateTimeField(default=dt.datetime.utcnow)

                class Meta:
                    table_name = table

            History._meta.set_database(database)
            History.create_table(safe=True)
            self._history = History
        return self._history


def bind_models(db: pw.Database) -> Any:
    """Subclasses of the schema models bound to ``db`` only (the originals stay unbound)."""
    bound = {}
    for model in m.MODELS:
        meta = type("Meta", (), {"database": db, "table_name": model._meta.table_name})
        bound[model.__name__] = type(
            model.__name__,
            (model,),
            {
                "Meta": meta,
                "__module__": __name__,
            },
        )
    return type("BoundModels", (), bound)


class SqliteStore(Store):
    """A :class:`~qorch.store.Store` on one SQLite file."""

    def __init__(self, path: Path, options: SqliteOptions | None = None) -> None:
        self.path = Path(path)
        self.options = options or SqliteOptions()
        self.db = pw.SqliteDatabase(
            None,
            pragmas={
                "journal_mode": self.options.journal_mode,
                "synchronous": self.options.synchronous,
                "busy_timeout": self.options.busy_timeout_ms,
                "foreign_keys": 1,
            },
        )
        self._checked = False
        self.m = bind_models(self.db)

    # -- lifecycle and schema ----------------------------------------------------------

    def open(self) -> None:
        """Create the directory and the file if needed, and connect."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db.init(str(self.path))
        self.db.connect(reuse_if_open=True)

    def close(self) -> None:
        """Close this thread's connection (safe to call twice)."""
        if not self.db.is_closed():
            self.db.close()

    def _router(self) -> _Router:
        logging.getLogger("peewee_migrate").setLevel(logging.ERROR)
        return _Router(self.db, migrate_dir=MIGRATIONS_DIR, migrate_table=MIGRATE_TABLE)

    def status(self) -> MigrationStatus:
        """Applied and pending migrations."""
        router = self._router()
        return MigrationStatus(applied=list(router.done), pending=list(router.diff))

    def upgrade(self, target: str | None = None) -> list[str]:
        """Apply pending migrations (up to ``target``)."""
        router = self._router()
        if target is not None and target not in router.todo:
            raise StoreError(f"no migration named {target!r}; known: {', '.join(router.todo)}")
        self._checked = False
        return list(router.run(target))

    def downgrade(self, steps: int = 1) -> list[str]:
        """Roll back the newest ``steps`` migrations."""
        done: list[str] = []
        for _ in range(steps):
            router = self._router()
            if not router.done:
                break
            name = router.done[-1]
            router.rollback()
            done.append(name)
        self._checked = False
        return done

    def _ready(self) -> None:
        if self._checked:
            return
        status = self.status()
        if status.pending:
            raise StoreError(
                f"database {self.path} needs migrations {', '.join(status.pending)}; "
                "run `qorch db upgrade`"
            )
        self._checked = True

    # -- jobs ------------------------------------------------------------------------

    @staticmethod
    def _job(row: Any) -> JobRecord:
        return JobRecord(
            job_id=row.job_id,
            state=JobState(row.state),
            created_at=_dt(row.created_at),
            updated_at=_dt(row.updated_at),
            request=_load(row.request),
            error=_load(row.error),
            result=_load(row.result),
        )

    def add_job(self, job: JobRecord) -> None:
        """Insert a job; duplicates raise StoreError."""
        self._ready()
        try:
            with self.db.atomic():
                self.m.Job.create(
                    job_id=job.job_id,
                    state=job.state.value,
                    created_at=_ts(job.created_at),
                    updated_at=_ts(job.updated_at),
                    request=_dump(job.request),
                    error=_dump(job.error),
                    result=_dump(job.result),
                )
        except pw.IntegrityError:
            raise StoreError(f"job {job.job_id!r} already exists") from None

    def get_job(self, job_id: str) -> JobRecord | None:
        """The job or None."""
        self._ready()
        row = self.m.Job.get_or_none(self.m.Job.job_id == job_id)
        return None if row is None else self._job(row)

    def transition_job(
        self,
        job_id: str,
        new: JobState,
        *,
        at: dt.datetime,
        error: dict | None = None,
        result: dict | None = None,
    ) -> JobRecord:
        """Compare-and-set the state inside one immediate transaction."""
        self._ready()
        with self.db.atomic("IMMEDIATE"):
            row = self.m.Job.get_or_none(self.m.Job.job_id == job_id)
            if row is None:
                raise StoreError(f"no job {job_id!r}")
            old = JobState(row.state)
            if not can_transition(old, new):
                raise StoreError(f"job {job_id!r}: illegal transition {old} -> {new}")
            row.state = new.value
            row.updated_at = _ts(at)
            if error is not None:
                row.error = _dump(error)
            if result is not None:
                row.result = _dump(result)
            row.save()
        return self._job(row)

    def list_jobs(
        self, state: JobState | None = None, limit: int = 100, offset: int = 0
    ) -> list[JobRecord]:
        """Jobs oldest first."""
        self._ready()
        query = self.m.Job.select()
        if state is not None:
            query = query.where(self.m.Job.state == state.value)
        query = query.order_by(self.m.Job.created_at, self.m.Job.job_id).limit(limit).offset(offset)
        return [self._job(r) for r in query]

    def count_jobs(self, state: JobState | None = None) -> int:
        """Number of jobs."""
        self._ready()
        query = self.m.Job.select()
        if state is not None:
            query = query.where(self.m.Job.state == state.value)
        return query.count()

    # -- fragments -----------------------------------------------------------------------

    def put_fragment(self, fragment: FragmentRecord) -> None:
        """Upsert by (job, fragment, attempt)."""
        self._ready()
        with self.db.atomic():
            self.m.Fragment.replace(
                job_id=fragment.job_id,
                fragment_id=fragment.fragment_id,
                attempt=fragment.attempt,
                status=fragment.status,
                node=fragment.node,
                started_at=_ts(fragment.started_at),
                ended_at=_ts(fragment.ended_at),
                error=_dump(fragment.error),
                record=_dump(fragment.record),
            ).execute()

    def list_fragments(self, job_id: str) -> list[FragmentRecord]:
        """Fragments of a job by id then attempt."""
        self._ready()
        query = (
            self.m.Fragment.select()
            .where(self.m.Fragment.job_id == job_id)
            .order_by(self.m.Fragment.fragment_id, self.m.Fragment.attempt)
        )
        return [
            FragmentRecord(
                job_id=r.job_id,
                fragment_id=r.fragment_id,
                attempt=r.attempt,
                status=r.status,
                node=r.node,
                started_at=_dt(r.started_at),
                ended_at=_dt(r.ended_at),
                error=_load(r.error),
                record=_load(r.record),
            )
            for r in query
        ]

    # -- reservations --------------------------------------------------------------------

    @staticmethod
    def _reservation(r: Any) -> ReservationRecord:
        return ReservationRecord(
            reservation_id=r.reservation_id,
            job_id=r.job_id,
            fragment_id=r.fragment_id,
            attempt=r.attempt,
            node=r.node,
            operation=r.operation,
            window_start=_dt(r.window_start),
            window_end=_dt(r.window_end),
            min_fidelity=r.min_fidelity,
            state=r.state,
            expires_at=_dt(r.expires_at),
            created_at=_dt(r.created_at),
        )

    def put_reservation(self, reservation: ReservationRecord) -> None:
        """Upsert by reservation id."""
        self._ready()
        r = reservation
        with self.db.atomic():
            self.m.Reservation.replace(
                reservation_id=r.reservation_id,
                job_id=r.job_id,
                fragment_id=r.fragment_id,
                attempt=r.attempt,
                node=r.node,
                operation=r.operation,
                window_start=_ts(r.window_start),
                window_end=_ts(r.window_end),
                min_fidelity=r.min_fidelity,
                state=r.state,
                expires_at=_ts(r.expires_at),
                created_at=_ts(r.created_at),
            ).execute()

    def get_reservation(self, reservation_id: str) -> ReservationRecord | None:
        """The reservation or None."""
        self._ready()
        row = self.m.Reservation.get_or_none(self.m.Reservation.reservation_id == reservation_id)
        return None if row is None else self._reservation(row)

    def list_reservations(
        self, *, job_id: str | None = None, node: str | None = None, state: str | None = None
    ) -> list[ReservationRecord]:
        """Filtered reservations by window start."""
        self._ready()
        query = self.m.Reservation.select()
        if job_id is not None:
            query = query.where(self.m.Reservation.job_id == job_id)
        if node is not None:
            query = query.where(self.m.Reservation.node == node)
        if state is not None:
            query = query.where(self.m.Reservation.state == state)
        query = query.order_by(self.m.Reservation.window_start, self.m.Reservation.reservation_id)
        return [self._reservation(r) for r in query]

    # -- adverts -------------------------------------------------------------------------

    def put_advert(self, advert: AdvertRecord) -> None:
        """Upsert the advert of a node."""
        self._ready()
        with self.db.atomic():
            self.m.Advert.replace(
                node_id=advert.node_id,
                received_at=_ts(advert.received_at),
                expires_at=_ts(advert.expires_at),
                advert=_dump(advert.advert),
            ).execute()

    def list_adverts(self) -> list[AdvertRecord]:
        """Every cached advert by node id."""
        self._ready()
        return [
            AdvertRecord(
                node_id=r.node_id,
                received_at=_dt(r.received_at),
                expires_at=_dt(r.expires_at),
                advert=_load(r.advert),
            )
            for r in self.m.Advert.select().order_by(self.m.Advert.node_id)
        ]

    # -- quality reports and metrics -------------------------------------------------------

    def add_quality_report(self, report: QualityReport) -> None:
        """Append a report."""
        self._ready()
        with self.db.atomic():
            self.m.QualityReport.create(
                subject=report.subject,
                kind=report.kind,
                metric=report.metric,
                value=report.value,
                at=_ts(report.at),
                source=report.source,
            )

    def list_quality_reports(
        self, subject: str | None = None, since: dt.datetime | None = None, limit: int = 1000
    ) -> list[QualityReport]:
        """Newest first."""
        self._ready()
        query = self.m.QualityReport.select()
        if subject is not None:
            query = query.where(self.m.QualityReport.subject == subject)
        if since is not None:
            query = query.where(self.m.QualityReport.at >= _ts(since))
        query = query.order_by(
            self.m.QualityReport.at.desc(), self.m.QualityReport.id.desc()
        ).limit(limit)
        return [
            QualityReport(
                subject=r.subject,
                kind=r.kind,
                metric=r.metric,
                value=r.value,
                at=_dt(r.at),
                source=r.source,
            )
            for r in query
        ]

    def add_metric(self, sample: MetricSample) -> None:
        """Append a sample."""
        self._ready()
        with self.db.atomic():
            self.m.Metric.create(
                name=sample.name, value=sample.value, at=_ts(sample.at), labels=_dump(sample.labels)
            )

    def list_metrics(
        self, name: str | None = None, since: dt.datetime | None = None, limit: int = 1000
    ) -> list[MetricSample]:
        """Newest first."""
        self._ready()
        query = self.m.Metric.select()
        if name is not None:
            query = query.where(self.m.Metric.name == name)
        if since is not None:
            query = query.where(self.m.Metric.at >= _ts(since))
        query = query.order_by(self.m.Metric.at.desc(), self.m.Metric.id.desc()).limit(limit)
        return [
            MetricSample(name=r.name, value=r.value, at=_dt(r.at), labels=_load(r.labels))
            for r in query
        ]
