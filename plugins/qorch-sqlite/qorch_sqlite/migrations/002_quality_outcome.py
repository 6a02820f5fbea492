"""002: quality reports say whether the observation was a success (FR-008).

A coordinator's probe of a node that timed out or failed is a quality report too: its
``value`` is the time waited, ``ok`` is false. Existing rows were successes. Also an
index on (subject, at), the registry's query for "latest of this node".
"""

from typing import Any

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, fake: bool = False, **kwargs: Any) -> None:
    """Add ``quality_report.ok`` (default true) and the (subject, at) index."""
    migrator.add_fields("quality_report", ok=pw.BooleanField(default=True))
    migrator.add_index("quality_report", "subject", "at")


def rollback(migrator: Migrator, database: pw.Database, fake: bool = False, **kwargs: Any) -> None:
    """Drop the index and the column again."""
    migrator.drop_index("quality_report", "subject", "at")
    migrator.remove_fields("quality_report", "ok")
