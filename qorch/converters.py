"""The one cattrs converter of qorch (DESIGN §5).

Everything that crosses a boundary — config sections, plugin options, store records,
(later) wire messages and API bodies — is (un)structured by this converter, so the
rules are the same everywhere: unknown keys are errors, enums travel by value,
datetimes as ISO 8601 strings, tuples as lists.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import cattrs
from cattrs.preconf.json import make_converter

#: The shared converter. Extra keys in input are rejected (``forbid_extra_keys``).
converter = make_converter(forbid_extra_keys=True)


def _structure_datetime(value: Any, _type: type) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        parsed = dt.datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


converter.register_structure_hook(dt.datetime, _structure_datetime)
converter.register_unstructure_hook(dt.datetime, lambda d: d.isoformat())
converter.register_unstructure_hook(enum.Enum, lambda e: e.value)


def structure_errors(exc: Exception, prefix: str = "") -> list[str]:
    """Flatten a cattrs structuring error into ``"path: message"`` lines.

    ``prefix`` is prepended to every path, e.g. ``"plugins.store.sqlite"``.
    """
    if isinstance(exc, cattrs.BaseValidationError):
        return list(cattrs.transform_error(exc, path=prefix or "$"))
    return [f"{prefix or '$'}: {exc}"]
