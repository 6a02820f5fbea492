"""004: API keys (FR-014) — a name, the sha256 of the key, its roles and first characters.

The key itself is never stored: it is shown once by ``qorch keys create`` and found
again by its hash (``key_hash``, unique) when a request presents it.
"""

from typing import Any

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, fake: bool = False, **kwargs: Any) -> None:
    """Create the ``api_key`` table."""

    @migrator.create_model
    class ApiKey(pw.Model):
        name = pw.CharField(primary_key=True, max_length=64)
        key_hash = pw.CharField(max_length=64, unique=True)
        roles = pw.TextField()
        created_at = pw.CharField(max_length=40)
        prefix = pw.CharField(max_length=16)

        class Meta:
            table_name = "api_key"


def rollback(migrator: Migrator, database: pw.Database, fake: bool = False, **kwargs: Any) -> None:
    """Drop the ``api_key`` table."""
    migrator.remove_model("api_key")
