"""The shared cattrs converter: datetimes, enums, strict options."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from qorch.converters import converter, structure_options
from qorch.errors import ConfigError
from qorch.model import JobRecord, JobState


def test_records_unstructure_to_json_and_back():
    t = dt.datetime(2026, 5, 4, 3, 2, 1, 5, tzinfo=dt.UTC)
    job = JobRecord("j", JobState.EXECUTING, t, t, {"k": [1]})
    data = converter.unstructure(job)
    assert data["state"] == "EXECUTING" and data["created_at"] == t.isoformat()
    assert converter.structure(data, JobRecord) == job


def test_naive_datetimes_are_taken_as_utc():
    naive = converter.structure("2026-01-01T00:00:00", dt.datetime)
    assert naive.tzinfo is dt.UTC


@attrs.frozen
class Opts:
    """Example options."""

    n: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    ratio: float = 0.5
    names: list[str] = attrs.field(factory=list)


def test_structure_options_is_strict_and_reports_everything():
    assert structure_options({"n": 3, "ratio": 1, "names": ["a"]}, Opts, "p") == Opts(3, 1.0, ["a"])
    with pytest.raises(ConfigError) as info:
        structure_options({"n": "3", "ratio": True, "names": "ab", "x": 0}, Opts, "p")
    assert info.value.problems == [
        "p.x: unknown key; expected one of n, ratio, names",
        "p.n = '3': expected an integer",
        "p.ratio = True: expected a number",
        "p.names = 'ab': expected a list of strings",
    ]
    with pytest.raises(ConfigError, match="must be >= 1"):
        structure_options({"n": 0}, Opts, "p")
