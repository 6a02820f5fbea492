"""Shared fixtures: the corpus location, a plugin system, and clean environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qorch.plugins import PluginSystem

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "qasmbench"


def corpus_files() -> list[Path]:
    """Every QASMBench file, or an empty list outside the workplace."""
    return sorted(CORPUS.rglob("*.qasm")) if CORPUS.is_dir() else []


needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(),
    reason=f"QASMBench corpus not found at {CORPUS} (an outside clone without ../shared)",
)


@pytest.fixture(autouse=True)
def _no_qorch_env(monkeypatch, tmp_path):
    """Tests start from the embedded defaults: no QORCH_* variables, no settings.toml."""
    for name in list(os.environ):
        if name.upper().startswith("QORCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def plugins() -> PluginSystem:
    """The installed plugins with default settings."""
    return PluginSystem()
