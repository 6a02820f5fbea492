"""API keys at rest (FR-014): :mod:`qorch.keys` and ``qorch keys create|list|revoke``."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess

import pytest

from qorch.cli.main import main
from qorch.errors import ConfigError
from qorch.keys import ROLES, allows, check_name, hash_key, key_prefix, new_key, parse_roles
from qorch.plugins import PluginSystem
from tests.conftest import REPO

# -- qorch.keys ---------------------------------------------------------------------------


def test_new_keys_are_long_url_safe_and_never_repeat():
    """FR-014: a key is qk_ + 256 random bits, URL-safe (it may travel in a query)."""
    keys = {new_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert re.fullmatch(r"qk_[A-Za-z0-9_-]{43}", key), key


def test_hash_key_is_the_sha256_hex_digest():
    """FR-014: the store keeps sha256(key), a fixed 64-hex-digit digest."""
    assert hash_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    key = new_key()
    assert hash_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert hash_key(key) != hash_key(key + "x")
    assert key_prefix(key) == key[:8] and len(key_prefix(key)) == 8


@pytest.mark.parametrize(
    ("text", "roles"),
    [
        ("read", ("read",)),
        ("submit,read", ("read", "submit")),
        (" admin , read,admin ", ("read", "admin")),
        ("admin,submit,read,submit", ROLES),
    ],
)
def test_parse_roles_deduplicates_and_sorts_in_role_order(text, roles):
    """FR-014: roles are a set, kept in ROLES order."""
    assert parse_roles(text) == roles


@pytest.mark.parametrize("text", ["", " ", "read,", "read,,submit", "boss", "READ", "read;submit"])
def test_parse_roles_refuses_unknown_or_empty_roles_naming_the_valid_ones(text):
    """FR-014: a typo in a role is an error that says which roles exist, never ignored."""
    with pytest.raises(ConfigError) as info:
        parse_roles(text)
    assert "read, submit, admin" in str(info.value)


@pytest.mark.parametrize("name", ["alice", "ci-bot_2", "ops@example.org", "a", "x" * 64])
def test_check_name_accepts_plain_names(name):
    """FR-014: ordinary key names pass unchanged."""
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name", ["", " ", "a b", "tab\there", "nl\n", "esc\x1b[31m", "é", "x" * 65]
)
def test_check_name_refuses_empty_whitespace_control_and_long_names(name):
    """FR-014: names end up in logs and replies: nothing that could forge a line."""
    with pytest.raises(ConfigError) as info:
        check_name(name)
    assert "API key name" in str(info.value)


@pytest.mark.parametrize(
    ("roles", "needed", "allowed"),
    [
        (("admin",), "read", True),
        (("admin",), "submit", True),
        (("admin",), "admin", True),
        (("read",), "read", True),
        (("read",), "submit", False),
        (("read",), "admin", False),
        (("submit",), "submit", True),
        (("submit",), "read", False),  # submit does not imply read
        (("read", "submit"), "read", True),
        (("read", "submit"), "admin", False),
        ((), "read", False),
        (["submit"], "submit", True),
    ],
)
def test_allows_admin_everything_and_other_roles_only_themselves(roles, needed, allowed):
    """FR-014: the role table of the API."""
    assert allows(roles, needed) is allowed


def test_allows_refuses_to_judge_an_unknown_role():
    """FR-014: a route asking for a role that does not exist is a bug, not a refusal."""
    with pytest.raises(ValueError, match="unknown role 'write'"):
        allows(("admin",), "write")


# -- qorch keys ---------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def stored(data):
    """Every key record in the default store under ``data``."""
    store = PluginSystem().create("store", data_dir=data)
    with store:
        return store.list_api_keys()


def database_bytes(data) -> bytes:
    """The bytes of every file under ``data`` (the SQLite file and any WAL/journal)."""
    return b"".join(p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file())


def test_create_prints_the_key_once_and_the_store_holds_only_its_hash(capsys, tmp_path):
    """FR-014: stdout is the key alone; the store has its sha256, roles and prefix, and
    the key itself is nowhere in the database files."""
    data = tmp_path / "d"
    code, out, err = run(capsys, "keys", "create", "alice", "--roles", "submit,read",
                         "--data-dir", str(data))  # fmt: skip
    assert code == 0
    key = out.strip()
    assert out == key + "\n" and key.startswith("qk_")
    assert "will not be shown again" in err and key not in err
    (record,) = stored(data)
    assert record.name == "alice" and record.roles == ("read", "submit")
    assert record.key_hash == hash_key(key) and record.prefix == key[:8]
    assert record.created_at.utcoffset() is not None  # timezone-aware UTC
    on_disk = database_bytes(data)
    assert hash_key(key).encode() in on_disk  # the right files were read ...
    assert key.encode() not in on_disk  # ... and the key is not in them
    assert key[8:].encode() not in on_disk  # not even its secret part


def test_create_json_gives_name_key_roles_and_prefix(capsys, tmp_path):
    """FR-014: --json for scripts: {"name", "key", "roles", "prefix"}."""
    data = str(tmp_path / "d")
    code, out, err = run(capsys, "keys", "create", "ci", "--roles", "admin", "--json",
                         "--data-dir", data)  # fmt: skip
    assert code == 0 and "will not be shown again" in err
    made = json.loads(out)
    assert set(made) == {"name", "key", "roles", "prefix"}
    assert made["name"] == "ci" and made["roles"] == ["admin"]
    assert made["prefix"] == made["key"][:8]
    (record,) = stored(tmp_path / "d")
    assert record.key_hash == hash_key(made["key"])


def test_list_shows_names_roles_prefixes_and_times_never_the_hash(capsys, tmp_path):
    """FR-014: listing keys never reveals what a key could be recovered or matched from."""
    data = str(tmp_path / "d")
    code, out, _ = run(capsys, "keys", "list", "--data-dir", data)
    assert code == 0 and "no API keys" in out
    keys = {}
    for name, roles in (("zed", "read"), ("alice", "read,submit")):
        _, out, _ = run(capsys, "keys", "create", name, "--roles", roles, "--data-dir", data)
        keys[name] = out.strip()
    code, text, _ = run(capsys, "keys", "list", "--data-dir", data)
    assert code == 0
    lines = text.splitlines()
    assert lines[0].split() == ["name", "roles", "prefix", "created_at"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["alice", "read,submit", keys["alice"][:8]],
        ["zed", "read", keys["zed"][:8]],
    ]
    code, jsonl, _ = run(capsys, "keys", "list", "--json", "--data-dir", data)
    rows = [json.loads(line) for line in jsonl.splitlines()]
    assert [r["name"] for r in rows] == ["alice", "zed"]
    assert set(rows[0]) == {"name", "roles", "prefix", "created_at"}
    assert rows[0]["roles"] == ["read", "submit"] and rows[1]["prefix"] == keys["zed"][:8]
    for key in keys.values():
        for shown in (text, jsonl):
            assert hash_key(key) not in shown and key not in shown


def test_revoke_forgets_the_key_and_an_unknown_name_exits_2(capsys, tmp_path):
    """FR-014: a revoked key's hash is gone from the store; revoking nothing is an error."""
    data = str(tmp_path / "d")
    for name in ("alice", "bob"):
        run(capsys, "keys", "create", name, "--roles", "read", "--data-dir", data)
    code, out, _ = run(capsys, "keys", "revoke", "alice", "--data-dir", data)
    assert code == 0 and "revoked" in out and "alice" in out
    assert [k.name for k in stored(tmp_path / "d")] == ["bob"]
    code, out, err = run(capsys, "keys", "revoke", "alice", "--data-dir", data)
    assert code == 2 and out == ""
    assert "no API key named 'alice'" in err and "Traceback" not in err
    assert [k.name for k in stored(tmp_path / "d")] == ["bob"]


def test_a_taken_name_is_refused_and_the_first_key_stays(capsys, tmp_path):
    """FR-014: creating a key under a taken name never replaces (or leaks) the first."""
    data = str(tmp_path / "d")
    _, first, _ = run(capsys, "keys", "create", "alice", "--roles", "read", "--data-dir", data)
    code, out, err = run(capsys, "keys", "create", "alice", "--roles", "admin",
                         "--data-dir", data)  # fmt: skip
    assert code == 2 and out == ""  # no key printed that would not work
    assert "already exists" in err and "Traceback" not in err
    (record,) = stored(tmp_path / "d")
    assert record.key_hash == hash_key(first.strip()) and record.roles == ("read",)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["create", "alice", "--roles", "read,boss"], "unknown or empty role 'boss'"),
        (["create", "alice", "--roles", ""], "read, submit, admin"),
        (["create", "", "--roles", "read"], "API key name ''"),
        (["create", "two words", "--roles", "read"], "API key name 'two words'"),
        (["create", "bell\x07", "--roles", "read"], "API key name 'bell\\x07'"),
    ],
)
def test_bad_input_is_one_clear_error_and_touches_no_file(capsys, tmp_path, argv, message):
    """FR-014: bad names and roles are structured errors (exit 2), never a traceback, and
    nothing is written."""
    data = tmp_path / "d"
    code, out, err = run(capsys, "keys", *argv, "--data-dir", str(data))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not data.exists()


def test_the_console_script_prints_only_the_key_on_stdout(tmp_path):
    """FR-014: the installed `qorch keys create` end to end, then a bad role through it."""
    exe = str(REPO / ".venv" / "bin" / "qorch")
    data = str(tmp_path / "d")
    made = subprocess.run(
        [exe, "keys", "create", "svc", "--roles", "submit", "--data-dir", data],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert made.stdout == key + "\n" and "will not be shown again" in made.stderr
    (record,) = stored(tmp_path / "d")
    assert record.key_hash == hash_key(key) and record.roles == ("submit",)
    bad = subprocess.run(
        [exe, "keys", "create", "svc2", "--roles", "root", "--data-dir", data],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "unknown or empty role 'root'" in bad.stderr
