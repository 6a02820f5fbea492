"""Every ``type: ignore`` in qorch/ and plugins/ names its error codes and says why
(issue 16): ``# type: ignore[code]  # reason``. mypy itself reports one that is no longer
needed (``warn_unused_ignores``)."""

from __future__ import annotations

import io
import re
import tokenize

from tests.conftest import REPO

IGNORE = re.compile(r"type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)")
CODES = re.compile(r"\[[a-z][a-z-]*(,\s*[a-z][a-z-]*)*\]")
REASON = re.compile(r"\s+#\s*\S")


def problems(source: str, name: str = "<source>") -> list[str]:
    """``name:line: what is wrong`` for each ``type: ignore`` comment in ``source`` that
    names no error code or gives no reason after it."""
    out = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        found = IGNORE.search(token.string)
        if found is None:
            continue
        where = f"{name}:{token.start[0]}"
        if not found["codes"] or not CODES.fullmatch(found["codes"]):
            out.append(f"{where}: names no error code: {token.string}")
        elif not REASON.match(found["rest"]):
            out.append(f"{where}: gives no reason (`  # why`) after it: {token.string}")
    return out


def test_the_check_accepts_a_code_and_a_reason_and_refuses_anything_less():
    good = "x = f()  # type: ignore[arg-type]  # the stub is wrong\n"
    two = "x = f()  # type: ignore[arg-type, misc]  # both, for one reason\n"
    assert problems(good) == [] and problems(two) == []
    for bad in (
        "x = f()  # type: ignore\n",
        "x = f()  # type: ignore  # a reason but no code\n",
        "x = f()  # type: ignore[]  # an empty code\n",
        "x = f()  # type: ignore[arg-type]\n",
        "x = f()  # type: ignore[arg-type] # \n",
        "x = f()  # type:ignore[arg-type]reason without a comment\n",
    ):
        assert len(problems(bad)) == 1, bad
    assert problems('s = "# type: ignore"\n') == []  # in a string, not a comment


def test_every_type_ignore_in_qorch_and_the_plugins_has_a_code_and_a_reason():
    files = [*(REPO / "qorch").rglob("*.py"), *(REPO / "plugins").rglob("*.py")]
    assert len(files) > 100
    found = [
        p
        for path in files
        for p in problems(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    ]
    assert not found, "\n".join(found)
