"""SQLite-specific behaviour of the default store (FR-010, FR-014): file, WAL, schema,
reopen, API keys kept only as hashes."""

from __future__ import annotations

import sqlite3

from qorch_sqlite import models
from qorch_sqlite.plugin import SqliteOptions
from qorch_sqlite.store import SqliteStore

from qorch.keys import hash_key, key_prefix, new_key
from qorch.model import ApiKeyRecord, JobState
from qorch.testing.store_contract import T0, at, job


def test_database_is_one_wal_file_in_the_data_dir(tmp_path):
    store = SqliteStore(tmp_path / "data" / "q.sqlite3")
    store.open()
    store.upgrade()
    store.add_job(job("j1"))
    store.close()
    con = sqlite3.connect(tmp_path / "data" / "q.sqlite3")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT state FROM job").fetchall() == [("QUEUED",)]


def test_journal_mode_follows_options(tmp_path):
    store = SqliteStore(tmp_path / "q.sqlite3", SqliteOptions(journal_mode="delete"))
    store.open()
    assert store.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "delete"
    store.close()


def test_migrated_schema_matches_the_models(tmp_path):
    """The frozen migrations build exactly the tables and columns the models query."""
    store = SqliteStore(tmp_path / "q.sqlite3")
    store.open()
    store.upgrade()
    for model in models.MODELS:
        table = model._meta.table_name
        columns = {c.name for c in store.db.get_columns(table)}
        assert columns == {f.column_name for f in model._meta.sorted_fields}, table
    store.downgrade(len(store.status().applied))
    tables = set(store.db.get_tables())
    assert not tables & {m._meta.table_name for m in models.MODELS}
    store.close()


def test_state_survives_reopening(tmp_path):
    path = tmp_path / "q.sqlite3"
    first = SqliteStore(path)
    first.open()
    first.upgrade()
    first.add_job(job("j1"))
    first.transition_job("j1", JobState.COMPILING, at=at(1))
    first.close()
    second = SqliteStore(path)
    second.open()
    assert second.status().current
    assert second.get_job("j1").state == JobState.COMPILING
    second.close()


def test_two_stores_in_one_process_do_not_share_tables(tmp_path):
    a, b = SqliteStore(tmp_path / "a.sqlite3"), SqliteStore(tmp_path / "b.sqlite3")
    for s in (a, b):
        s.open()
        s.upgrade()
    a.add_job(job("only-in-a"))
    assert b.get_job("only-in-a") is None and a.get_job("only-in-a") is not None
    a.close()
    b.close()


def test_api_keys_survive_reopening_and_only_their_hash_is_on_disk(tmp_path):
    """FR-014: a key made in one process is known to the next (a coordinator started
    later), and the database files hold its hash but never the key."""
    path = tmp_path / "q.sqlite3"
    key = new_key()
    record = ApiKeyRecord("alice", hash_key(key), ("read", "submit"), T0, key_prefix(key))
    first = SqliteStore(path)
    first.open()
    first.upgrade()
    first.add_api_key(record)
    first.close()
    second = SqliteStore(path)
    second.open()
    assert second.get_api_key(hash_key(key)) == record
    assert second.list_api_keys() == [record]
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("q.sqlite3*"))
    assert hash_key(key).encode() in on_disk  # the right bytes were read ...
    assert key.encode() not in on_disk  # ... and the key is not among them
    assert second.delete_api_key("alice") and second.list_api_keys() == []
    second.close()
