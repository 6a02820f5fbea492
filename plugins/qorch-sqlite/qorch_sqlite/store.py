"""The SQLite store (FR-010): peewee models, WAL, peewee-migrate migrations.

Every write runs in its own transaction and is durable when the method returns. A
:class:`SqliteStore` binds the models to its own database, so several stores (different
files) can live in one process, e.g. a coordinator and a test.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import typing
from pathlib import Path
from typing import Any

import attrs
import peewee as pw
from peewee_migrate import Router

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


def to_row(record: Any) -> dict[str, Any]:
    """A record's fields as column values: times as text, payloads as JSON, enums by value."""
    row = {}
    for field in attrs.fields(type(record)):
        value = getattr(record, field.name)
        if isinstance(value, dt.datetime):
            value = _ts(value)
        elif isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, dict | list):
            value = _dump(value)
        row[field.name] = value
    return row


def from_row(cls: type, row: Any) -> Any:
    """The record of type ``cls`` that :func:`to_row` stored in ``row``."""
    hints = typing.get_type_hints(cls)
    values = {}
    for field in attrs.fields(cls):
        value, hint = getattr(row, field.name), str(hints[field.name])
        if value is not None and "datetime" in hint:
            value = _dt(value)
        elif "dict" in hint or "list" in hint:
            value = _load(value)
        elif isinstance(hints[field.name], type) and issubclass(hints[field.name], enum.Enum):
            value = hints[field.name](value)
        values[field.name] = value
    return cls(**values)


class _Router(Router):
    """A peewee-migrate router whose history model is bound to this database only."""

    @property
    def model(self) -> type[pw.Model]:  # type: ignore[override]  # MigrateHistory's fields, own table
        if not hasattr(self, "_history"):
            database, table = self.database, self.migrate_table
            assert isinstance(database, pw.Database), "the store passes its SqliteDatabase"

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

    def add_job(self, job: JobRecord) -> None:
        """Insert a job; duplicates raise StoreError."""
        self._ready()
        try:
            with self.db.atomic():
                self.m.Job.create(**to_row(job))
        except pw.IntegrityError:
            raise StoreError(f"job {job.job_id!r} already exists") from None

    def get_job(self, job_id: str) -> JobRecord | None:
        """The job or None."""
        self._ready()
        row = self.m.Job.get_or_none(self.m.Job.job_id == job_id)
        return None if row is None else from_row(JobRecord, row)

    def set_job_plan(self, job_id: str, plan: dict[str, Any]) -> None:
        """Replace the job's plan column."""
        self._ready()
        with self.db.atomic():
            updated = (
                self.m.Job.update(plan=_dump(plan)).where(self.m.Job.job_id == job_id).execute()
            )
        if not updated:
            raise StoreError(f"no job {job_id!r}")

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
        """Compare-and-set the state inside one immediate transaction."""
        self._ready()
        with self.db.atomic("IMMEDIATE"):
            row = self.m.Job.get_or_none(self.m.Job.job_id == job_id)
            if row is None:
                raise StoreError(f"no job {job_id!r}")
            old = JobState(row.state)
            if (expected is not None and old is not expected) or not can_transition(old, new):
                raise TransitionRefused(job_id, old, new, expected)
            row.state = new.value
            row.updated_at = _ts(at)
            if error is not None:
                row.error = _dump(error)
            if result is not None:
                row.result = _dump(result)
            row.save()
        return from_row(JobRecord, row)

    def _jobs(self, state: JobState | None) -> Any:
        query = self.m.Job.select()
        return query if state is None else query.where(self.m.Job.state == state.value)

    def list_jobs(
        self, state: JobState | None = None, limit: int = 100, offset: int = 0
    ) -> list[JobRecord]:
        """Jobs oldest first."""
        self._ready()
        query = self._jobs(state).order_by(self.m.Job.created_at, self.m.Job.job_id)
        return [from_row(JobRecord, r) for r in query.limit(limit).offset(offset)]

    def count_jobs(self, state: JobState | None = None) -> int:
        """Number of jobs."""
        self._ready()
        return self._jobs(state).count()

    # -- upserted records ----------------------------------------------------------------

    def _replace(self, model: Any, record: Any) -> None:
        self._ready()
        with self.db.atomic():
            model.replace(**to_row(record)).execute()

    def put_fragment(self, fragment: FragmentRecord) -> None:
        """Upsert by (job, fragment, attempt)."""
        self._replace(self.m.Fragment, fragment)

    def list_fragments(self, job_id: str) -> list[FragmentRecord]:
        """Fragments of a job by id then attempt."""
        self._ready()
        f = self.m.Fragment
        query = f.select().where(f.job_id == job_id).order_by(f.fragment_id, f.attempt)
        return [from_row(FragmentRecord, r) for r in query]

    def put_reservation(self, reservation: ReservationRecord) -> None:
        """Upsert by reservation id."""
        self._replace(self.m.Reservation, reservation)

    def get_reservation(self, reservation_id: str) -> ReservationRecord | None:
        """The reservation or None."""
        self._ready()
        row = self.m.Reservation.get_or_none(self.m.Reservation.reservation_id == reservation_id)
        return None if row is None else from_row(ReservationRecord, row)

    def list_reservations(
        self, *, job_id: str | None = None, node: str | None = None, state: str | None = None
    ) -> list[ReservationRecord]:
        """Filtered reservations by window start."""
        self._ready()
        r = self.m.Reservation
        query = r.select()
        for column, value in ((r.job_id, job_id), (r.node, node), (r.state, state)):
            if value is not None:
                query = query.where(column == value)
        query = query.order_by(r.window_start, r.reservation_id)
        return [from_row(ReservationRecord, row) for row in query]

    def put_advert(self, advert: AdvertRecord) -> None:
        """Upsert the advert of a node."""
        self._replace(self.m.Advert, advert)

    def list_adverts(self) -> list[AdvertRecord]:
        """Every cached advert by node id."""
        self._ready()
        query = self.m.Advert.select().order_by(self.m.Advert.node_id)
        return [from_row(AdvertRecord, r) for r in query]

    def batch(self) -> Any:
        """One transaction around many writes (theirs nest as savepoints)."""
        self._ready()
        return self.db.atomic()

    # -- append-only series ---------------------------------------------------------------

    def _append(self, model: Any, record: Any) -> None:
        self._ready()
        with self.db.atomic():
            model.create(**to_row(record))

    def _newest(
        self,
        model: Any,
        cls: type,
        key: Any,
        value: str | None,
        since: dt.datetime | None,
        limit: int,
    ) -> list[Any]:
        self._ready()
        query = model.select()
        if value is not None:
            query = query.where(key == value)
        if since is not None:
            query = query.where(model.at >= _ts(since))
        query = query.order_by(model.at.desc(), model.id.desc()).limit(limit)
        return [from_row(cls, r) for r in query]

    def add_quality_report(self, report: QualityReport) -> None:
        """Append a report."""
        self._append(self.m.QualityReport, report)

    def list_quality_reports(
        self, subject: str | None = None, since: dt.datetime | None = None, limit: int = 1000
    ) -> list[QualityReport]:
        """Newest first."""
        q = self.m.QualityReport
        return self._newest(q, QualityReport, q.subject, subject, since, limit)

    def add_metric(self, sample: MetricSample) -> None:
        """Append a sample."""
        self._append(self.m.Metric, sample)

    def list_metrics(
        self, name: str | None = None, since: dt.datetime | None = None, limit: int = 1000
    ) -> list[MetricSample]:
        """Newest first."""
        m = self.m.Metric
        return self._newest(m, MetricSample, m.name, name, since, limit)

    # -- API keys (FR-014) -------------------------------------------------------------

    def add_api_key(self, record: ApiKeyRecord) -> None:
        """Insert a key's record (its hash only); a known name or hash raises StoreError."""
        self._ready()
        row = {
            "name": record.name,
            "key_hash": record.key_hash,
            "roles": _dump(list(record.roles)),
            "created_at": _ts(record.created_at),
            "prefix": record.prefix,
        }
        try:
            with self.db.atomic():
                self.m.ApiKey.create(**row)
        except pw.IntegrityError:
            taken = self.m.ApiKey.get_or_none(self.m.ApiKey.name == record.name)
            what = f"named {record.name!r}" if taken else "with this hash"
            raise StoreError(f"an API key {what} already exists") from None

    @staticmethod
    def _api_key(row: Any) -> ApiKeyRecord:
        return ApiKeyRecord(
            name=row.name,
            key_hash=row.key_hash,
            roles=tuple(_load(row.roles)),
            created_at=dt.datetime.fromisoformat(row.created_at),
            prefix=row.prefix,
        )

    def get_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The record of this hash, or None."""
        self._ready()
        row = self.m.ApiKey.get_or_none(self.m.ApiKey.key_hash == key_hash)
        return None if row is None else self._api_key(row)

    def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every key's record by name."""
        self._ready()
        return [self._api_key(r) for r in self.m.ApiKey.select().order_by(self.m.ApiKey.name)]

    def delete_api_key(self, name: str) -> bool:
        """Delete by name; False if there was none."""
        self._ready()
        with self.db.atomic():
            deleted = self.m.ApiKey.delete().where(self.m.ApiKey.name == name).execute()
        return bool(deleted)
