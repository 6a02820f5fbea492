"""001: the first tables — jobs, fragments, reservations, adverts, quality reports, metrics.

The models are frozen here as they were at this version; later migrations change them
with ``migrator.add_fields`` & co. ``rollback`` drops exactly what ``migrate`` created.
"""

from typing import Any

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, fake: bool = False, **kwargs: Any) -> None:
    """Create the six tables of schema version 1."""

    @migrator.create_model
    class Job(pw.Model):
        job_id = pw.CharField(primary_key=True, max_length=64)
        state = pw.CharField(max_length=16, index=True)
        created_at = pw.CharField(max_length=40, index=True)
        updated_at = pw.CharField(max_length=40)
        request = pw.TextField()
        error = pw.TextField(null=True)
        result = pw.TextField(null=True)

        class Meta:
            table_name = "job"

    @migrator.create_model
    class Fragment(pw.Model):
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
            table_name = "fragment"
            primary_key = pw.CompositeKey("job_id", "fragment_id", "attempt")

    @migrator.create_model
    class Reservation(pw.Model):
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

        class Meta:
            table_name = "reservation"

    @migrator.create_model
    class Advert(pw.Model):
        node_id = pw.CharField(primary_key=True, max_length=128)
        received_at = pw.CharField(max_length=40)
        expires_at = pw.CharField(max_length=40)
        advert = pw.TextField()

        class Meta:
            table_name = "advert"

    @migrator.create_model
    class QualityReport(pw.Model):
        subject = pw.CharField(max_length=260, index=True)
        kind = pw.CharField(max_length=16)
        metric = pw.CharField(max_length=64)
        value = pw.FloatField()
        at = pw.CharField(max_length=40, index=True)
        source = pw.CharField(max_length=128)

        class Meta:
            table_name = "quality_report"

    @migrator.create_model
    class Metric(pw.Model):
        name = pw.CharField(max_length=128, index=True)
        value = pw.FloatField()
        at = pw.CharField(max_length=40, index=True)
        labels = pw.TextField()

        class Meta:
            table_name = "metric"


def rollback(migrator: Migrator, database: pw.Database, fake: bool = False, **kwargs: Any) -> None:
    """Drop the six tables."""
    for name in ("metric", "quality_report", "advert", "reservation", "fragment", "job"):
        migrator.remove_model(name)
