"""The shape of the code (issue 16): no function in ``qorch/`` is over 100 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

MAX_FUNCTION_LINES = 100


def function_lengths(root: Path) -> Iterator[tuple[str, int]]:
    """``("<root>/<file>:<line> <name>", lines)`` of every function and method under
    ``root``, nested ones too; a function runs from its first decorator to its last line
    (its nested functions included)."""
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                where = f"{path.relative_to(root.parent)}:{node.lineno} {node.name}"
                yield where, node.end_lineno - first + 1


def test_no_function_in_qorch_is_over_100_lines():
    too_long = [
        f"{where} ({lines} lines)"
        for where, lines in function_lengths(REPO / "qorch")
        if lines > MAX_FUNCTION_LINES
    ]
    assert not too_long, "split these into named helpers:\n" + "\n".join(too_long)


def test_a_function_is_measured_from_its_decorators_with_its_nested_functions(tmp_path):
    source = "@decorator\ndef outer():\n    def inner():\n        pass\n\n    return inner\n"
    (tmp_path / "sample.py").write_text(source)
    assert dict(function_lengths(tmp_path)) == {
        f"{tmp_path.name}/sample.py:2 outer": 6,
        f"{tmp_path.name}/sample.py:3 inner": 2,
    }
