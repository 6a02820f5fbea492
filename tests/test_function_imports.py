"""Function-level imports are the exception (issue 16): at most 60 in ``qorch/`` (outside
``qorch/testing``), each with a one-line reason in a comment on its line or the line
above — the start-up time it saves, usually. A hidden import is a hidden dependency that
``lint-imports`` still sees but a reader does not."""

from __future__ import annotations

import ast
from pathlib import Path

import qorch

ROOT = Path(qorch.__file__).parent
BUDGET = 60


def function_imports(root: Path) -> list[tuple[str, int, bool]]:
    """``(path, line, has a reason)`` of every import inside a function under ``root``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if "testing" in path.relative_to(root).parts:
            continue
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import | ast.ImportFrom):
                    here, above = lines[sub.lineno - 1], lines[sub.lineno - 2]
                    reason = "#" in here or above.strip().startswith("#")
                    found.append((str(path.relative_to(root.parent)), sub.lineno, reason))
    return found


def test_function_level_imports_stay_within_budget():
    found = function_imports(ROOT)
    assert len(found) <= BUDGET, f"{len(found)} function-level imports (budget {BUDGET})"


def test_each_function_level_import_says_why():
    unexplained = [f"{path}:{line}" for path, line, reason in function_imports(ROOT) if not reason]
    assert unexplained == []


def test_the_checker_sees_an_unexplained_import(tmp_path):
    """Mutation: an import inside a function with no comment is reported; one with a
    comment above is not."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "m.py").write_text(
        "def f():\n    import json\n\n\ndef g():\n    # start-up: heavy\n    import csv\n"
    )
    assert function_imports(pkg) == [("pkg/m.py", 2, False), ("pkg/m.py", 7, True)]
