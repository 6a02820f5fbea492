"""003: a job keeps the plan of its run in progress (FR-010, decision 0007).

Written before the run's first reservation, so a coordinator restarted after a crash
resumes exactly that plan (and the fallbacks before it) instead of compiling again on a
snapshot that may have changed. Existing jobs have none: they are compiled again, as
before.
"""

from typing import Any

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, fake: bool = False, **kwargs: Any) -> None:
    """Add ``job.plan`` (JSON text, nullable)."""
    migrator.add_fields("job", plan=pw.TextField(null=True))


def rollback(migrator: Migrator, database: pw.Database, fake: bool = False, **kwargs: Any) -> None:
    """Drop the column again."""
    migrator.remove_fields("job", "plan")
