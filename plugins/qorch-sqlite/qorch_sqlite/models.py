"""peewee models of the current schema (the migrations in ``migrations/`` build it).

Times are ISO 8601 UTC text with microseconds (so text order is time order); JSON
payloads are text. Models are bound to a database per store with ``bind_ctx``.
"""

from __future__ import annotations

import peewee as pw


class BaseModel(pw.Model):
    """Base of every table (no database bound: the store binds its own)."""

    class Meta:
        legacy_table_names = False


class Job(BaseModel):
    """A job and its lifecycle state (FR-009)."""

    job_id = pw.CharField(primary_key=True, max_length=64)
    state = pw.CharField(max_length=16, index=True)
    created_at = pw.CharField(max_length=40, index=True)
    updated_at = pw.CharField(max_length=40)
    request = pw.TextField()
    error = pw.TextField(null=True)
    result = pw.TextField(null=True)
    plan = pw.TextField(null=True)  # migration 003


class Fragment(BaseModel):
    """One attempt at one fragment (FR-006)."""

    job_id = pw.CharField(max_length=64, index=True)
    fragment_id = pw.CharField(max_length=64)
    attempt = pw.IntegerField()
    status = pw.CharField(max_length=32)
    node = pw.CharField(max_length=128, null=True)
    started_at = pw.CharField(max_length=40, null=True)
    ended_at = pw.CharField(max_length=40, null=True)
    error = pw.TextField(null=True)
    record = pw.TextField(null=True)

    class Meta:
        primary_key = pw.CompositeKey("job_id", "fragment_id", "attempt")


class Reservation(BaseModel):
    """A reservation of a node's execution window (FR-005)."""

    reservation_id = pw.CharField(primary_key=True, max_length=64)
    job_id = pw.CharField(max_length=64, index=True)
    fragment_id = pw.CharField(max_length=64)
    attempt = pw.IntegerField()
    node = pw.CharField(max_length=128, index=True)
    operation = pw.CharField(max_length=64)
    window_start = pw.CharField(max_length=40)
    window_end = pw.CharField(max_length=40)
    min_fidelity = pw.FloatField()
    state = pw.CharField(max_length=16, index=True)
    expires_at = pw.CharField(max_length=40)
    created_at = pw.CharField(max_length=40)


class Advert(BaseModel):
    """The last accepted advertisement of a node (FR-001, FR-010)."""

    node_id = pw.CharField(primary_key=True, max_length=128)
    received_at = pw.CharField(max_length=40)
    expires_at = pw.CharField(max_length=40)
    advert = pw.TextField()


class QualityReport(BaseModel):
    """A fidelity / link quality observation (FR-008)."""

    subject = pw.CharField(max_length=260, index=True)
    kind = pw.CharField(max_length=16)
    metric = pw.CharField(max_length=64)
    value = pw.FloatField()
    at = pw.CharField(max_length=40, index=True)
    source = pw.CharField(max_length=128)
    ok = pw.BooleanField(default=True)

    class Meta:
        indexes = ((("subject", "at"), False),)


class Metric(BaseModel):
    """A metric sample (FR-012)."""

    name = pw.CharField(max_length=128, index=True)
    value = pw.FloatField()
    at = pw.CharField(max_length=40, index=True)
    labels = pw.TextField()


class ApiKey(BaseModel):
    """An API key's record (FR-014, migration 004): its sha256, never the key."""

    name = pw.CharField(primary_key=True, max_length=64)
    key_hash = pw.CharField(max_length=64, unique=True)
    roles = pw.TextField()  # JSON list, in qorch.keys.ROLES order
    created_at = pw.CharField(max_length=40)
    prefix = pw.CharField(max_length=16)


MODELS = (Job, Fragment, Reservation, Advert, QualityReport, Metric, ApiKey)
