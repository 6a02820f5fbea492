"""Persistent records and the job state machine (DESIGN §5, FR-009, FR-010).

These frozen attrs types are what a :class:`qorch.store.Store` keeps. Payloads that
belong to later stages (the submitted request, a plan, an execution record, an advert)
are plain JSON-able dicts here, unstructured by :mod:`qorch.converters`, so the store
never needs to know their shape.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from typing import Any

import attrs


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class JobState(enum.StrEnum):
    """The lifecycle of a job (FR-009)."""

    QUEUED = "QUEUED"
    COMPILING = "COMPILING"
    RESERVING = "RESERVING"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        """True for COMPLETED and FAILED: nothing follows them."""
        return self in (JobState.COMPLETED, JobState.FAILED)


#: Legal transitions: forward along the pipeline, or to FAILED from any live state.
JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.COMPILING, JobState.FAILED}),
    JobState.COMPILING: frozenset({JobState.RESERVING, JobState.FAILED}),
    JobState.RESERVING: frozenset({JobState.EXECUTING, JobState.FAILED}),
    JobState.EXECUTING: frozenset({JobState.COMPLETED, JobState.FAILED}),
    JobState.COMPLETED: frozenset(),
    JobState.FAILED: frozenset(),
}


def can_transition(old: JobState, new: JobState) -> bool:
    """Whether a job may go from ``old`` to ``new``."""
    return new in JOB_TRANSITIONS[old]


@attrs.frozen
class JobRecord:
    """A job as persisted: its state, the submitted request, and its outcome."""

    job_id: str
    state: JobState
    created_at: dt.datetime
    updated_at: dt.datetime
    request: dict[str, Any] = attrs.field(factory=dict)
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    #: the run in progress — its plan, run number and the fallbacks before it — stored
    #: before its first reservation, so a restarted coordinator resumes it exactly (FR-010)
    plan: dict[str, Any] | None = None


@attrs.frozen
class FragmentRecord:
    """One attempt at running one fragment of a job (FR-006): where, when, how it went."""

    job_id: str
    fragment_id: str
    attempt: int
    status: str
    node: str | None = None
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    error: dict[str, Any] | None = None
    record: dict[str, Any] | None = None


@attrs.frozen
class ReservationRecord:
    """A reservation of an execution window on a node (FR-005), with correlation ids."""

    reservation_id: str
    job_id: str
    fragment_id: str
    attempt: int
    node: str
    operation: str
    window_start: dt.datetime
    window_end: dt.datetime
    min_fidelity: float
    state: str
    expires_at: dt.datetime
    created_at: dt.datetime


@attrs.frozen
class AdvertRecord:
    """The last accepted advertisement of a node (FR-001), for a staleness-aware cache."""

    node_id: str
    received_at: dt.datetime
    expires_at: dt.datetime
    advert: dict[str, Any]


@attrs.frozen
class QualityReport:
    """A fidelity or link-quality observation (FR-008).

    ``subject`` is a node id, or ``"a|b"`` for the link between nodes a and b (sorted);
    ``kind`` is ``node`` or ``link``; ``metric`` e.g. ``fidelity`` or ``rtt_ms``;
    ``ok`` is false for a failed or timed-out probe (``value`` is then the time waited).
    """

    subject: str
    kind: str
    metric: str
    value: float
    at: dt.datetime
    source: str
    ok: bool = True


@attrs.frozen
class MetricSample:
    """One sample of a named metric with labels (FR-012)."""

    name: str
    value: float
    at: dt.datetime
    labels: dict[str, str] = attrs.field(factory=dict)


def _roles(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class ApiKeyRecord:
    """An API key as persisted (FR-014): never the key, only its sha256 (``key_hash``).

    ``roles`` are some of :data:`qorch.keys.ROLES`, in that order; ``prefix`` is the key's
    first 8 characters, so a user can tell keys apart without the secret.
    """

    name: str
    key_hash: str
    roles: tuple[str, ...] = attrs.field(converter=_roles)
    created_at: dt.datetime
    prefix: str


@attrs.frozen
class MigrationStatus:
    """Which schema migrations a store has applied and which are pending."""

    applied: list[str]
    pending: list[str]

    @property
    def current(self) -> bool:
        """True when nothing is pending."""
        return not self.pending
