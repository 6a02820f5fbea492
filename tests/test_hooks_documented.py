"""Every hook is specified with a docstring, documented in docs/hooks.md and tested (NFR-005)."""

from __future__ import annotations

import inspect

from qorch import hookspecs
from qorch.registry import KINDS
from tests.conftest import REPO

HOOKS = sorted(
    name
    for name, obj in vars(hookspecs).items()
    if name.startswith("qorch_") and inspect.isfunction(obj)
)


def test_there_are_hooks_for_every_kind_and_lifecycle():
    assert {k.hook for k in KINDS} <= set(HOOKS)
    assert {
        "qorch_select_parser",
        "qorch_configure",
        "qorch_startup",
        "qorch_shutdown",
        "qorch_on_job_state",
    } <= set(HOOKS)


def test_every_hook_has_a_docstring_with_an_example():
    for name in HOOKS:
        doc = inspect.getdoc(getattr(hookspecs, name))
        assert doc and "Example::" in doc, name


def test_every_hook_has_a_section_in_docs_hooks_md():
    text = (REPO / "docs" / "hooks.md").read_text()
    missing = [name for name in HOOKS if f"### {name}\n" not in text]
    assert not missing, f"undocumented hooks: {missing}"


def test_every_hook_is_implemented_in_a_test():
    source = (REPO / "tests" / "test_plugins.py").read_text()
    untested = [name for name in HOOKS if f"def {name}(" not in source]
    assert not untested, f"hooks without a test: {untested}"
