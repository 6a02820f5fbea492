"""Configuration (FR-011): layering, precise errors, and settings.toml = the schema's defaults."""

from __future__ import annotations

import tomllib

import pytest

from qorch.config import (
    Settings,
    defaults,
    load_settings,
    schema,
    settings_as_dict,
    to_toml,
)
from qorch.converters import structure
from qorch.errors import ConfigError
from tests.conftest import REPO


def problems(**kw) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(**kw)
    return info.value.problems


def test_embedded_defaults_need_no_file():
    s = load_settings()
    assert s == Settings()
    assert s.limits.max_qasm_bytes == 1_048_576
    assert set(s.sources.values()) == {"built-in default"}


def test_file_then_environment_override(tmp_path, monkeypatch):
    cfg = tmp_path / "mine.toml"
    cfg.write_text("[limits]\nmax_qubits = 64\nmax_operations = 10\n[logging]\nlevel = 'DEBUG'\n")
    monkeypatch.setenv("QORCH_LIMITS__MAX_OPERATIONS", "99")
    s = load_settings(cfg)
    assert (s.limits.max_qubits, s.limits.max_operations) == (64, 99)
    assert s.logging.level == "DEBUG"
    assert s.sources["limits.max_qubits"] == str(cfg)
    assert s.sources["limits.max_operations"] == "environment variable QORCH_LIMITS__MAX_OPERATIONS"
    assert s.sources["paths.data_dir"] == "built-in default"


def test_settings_toml_in_the_working_directory_and_qorch_config(tmp_path, monkeypatch):
    (tmp_path / "settings.toml").write_text("[limits]\nmax_qubits = 7\n")
    assert load_settings().limits.max_qubits == 7
    other = tmp_path / "other.toml"
    other.write_text("[limits]\nmax_qubits = 8\n")
    monkeypatch.setenv("QORCH_CONFIG", str(other))
    assert load_settings().limits.max_qubits == 8


def test_bad_environment_value_names_key_value_source_and_expectation(monkeypatch):
    monkeypatch.setenv("QORCH_LIMITS__MAX_QUBITS", "abc")
    assert problems() == [
        "limits.max_qubits = 'abc' (from environment variable QORCH_LIMITS__MAX_QUBITS): "
        "expected an integer >= 1"
    ]


def test_every_bad_value_in_a_file_is_reported_at_once(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        "[limits]\nmax_qasm_bytes = 0\nmax_qubits = 2.5\n[logging]\nlevel = 'LOUD'\nformat = true\n"
    )
    got = problems(config_file=cfg)
    assert got == [
        f"limits.max_qasm_bytes = 0 (from {cfg}): expected an integer >= 1",
        f"limits.max_qubits = 2.5 (from {cfg}): expected an integer >= 1",
        f"logging.level = 'LOUD' (from {cfg}): expected one of 'TRACE', 'DEBUG', 'INFO', "
        "'SUCCESS', 'WARNING', 'ERROR', 'CRITICAL'",
        f"logging.format = True (from {cfg}): expected one of 'auto', 'text', 'json'",
    ]


def test_world_idle_time_takes_one_of_its_choices(tmp_path, monkeypatch):
    assert load_settings().world.idle_time == "measured"
    for choice in ("measured", "planned", "none"):
        monkeypatch.setenv("QORCH_WORLD__IDLE_TIME", f"'{choice}'")
        assert load_settings().world.idle_time == choice
    monkeypatch.delenv("QORCH_WORLD__IDLE_TIME")
    cfg = tmp_path / "world.toml"
    for bad in ("'sometimes'", "'Measured'", "0", "true"):
        cfg.write_text(f"[world]\nidle_time = {bad}\n")
        got = problems(config_file=cfg)
        assert len(got) == 1 and got[0].startswith("world.idle_time = "), got
        assert got[0].endswith("expected one of 'measured', 'planned', 'none'"), got


def test_booleans_are_not_integers(monkeypatch):
    monkeypatch.setenv("QORCH_LIMITS__MAX_QUBITS", "true")
    assert "expected an integer" in problems()[0]


def test_unknown_keys_are_errors_with_a_suggestion(tmp_path, monkeypatch):
    cfg = tmp_path / "typo.toml"
    cfg.write_text("[limits]\nmax_qubit = 3\n[plugins]\nstore = 1\n")
    monkeypatch.setenv("QORCH_LOGGING__LEVLE", "DEBUG")
    got = problems(config_file=cfg)
    assert (
        f"unknown setting 'limits.max_qubit' (from {cfg}); did you mean 'limits.max_qubits'?" in got
    )
    assert any("logging.levle" in p and "QORCH_LOGGING__LEVLE" in p for p in got)
    assert any("'plugins.store'" in p and "[plugins.<kind>.<name>]" in p for p in got)


def test_missing_or_invalid_config_file(tmp_path):
    assert "does not exist" in problems(config_file=tmp_path / "nope.toml")[0]
    broken = tmp_path / "broken.toml"
    broken.write_text("[limits\n")
    assert "not valid TOML" in problems(config_file=broken)[0]


def test_plugin_option_tables_are_kept_for_the_plugin_system(tmp_path, monkeypatch):
    cfg = tmp_path / "p.toml"
    cfg.write_text("[plugins.store.sqlite]\nbusy_timeout_ms = 10\n")
    monkeypatch.setenv("QORCH_PLUGINS__STORE__SQLITE__JOURNAL_MODE", "delete")
    s = load_settings(cfg)
    assert s.options_for("store", "sqlite") == {"busy_timeout_ms": 10, "journal_mode": "delete"}
    assert s.options_for("store", "other") == {}


def test_the_repository_settings_toml_holds_every_default():
    """settings.toml is exactly the schema's defaults plus every default plugin's options."""
    from qorch.cli.app import App
    from qorch.cli.config_cmd import effective_settings
    from qorch.plugins import PluginSystem

    data = tomllib.loads((REPO / "settings.toml").read_text())
    settings = Settings()
    assert data == effective_settings(App(settings, PluginSystem(settings)))
    for key, value in defaults().items():
        assert data[key] == {**value, **{k: v for k, v in data[key].items() if k not in value}}


def test_every_setting_is_documented_and_bounded_sensibly():
    for spec in schema():
        assert spec.doc, spec.key
    assert structure(defaults(), Settings) == Settings()  # every default within its bounds


def test_to_toml_round_trips():
    data = settings_as_dict(Settings())
    docs = {s.key: s.doc for s in schema()}
    assert tomllib.loads(to_toml(data, docs)) == data
    with pytest.raises(TypeError):
        to_toml({"a": {"b": object()}})
