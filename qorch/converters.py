"""The one cattrs converter of qorch (DESIGN §5).

Everything that crosses a boundary — config sections, plugin options, store records,
(later) wire messages and API bodies — is (un)structured by this converter, so the
rules are the same everywhere: unknown keys are errors, enums travel by value,
datetimes as ISO 8601 strings, tuples as lists.
"""

from __future__ import annotations

import datetime as dt
import enum
import typing
from typing import Any

import attrs
import cattrs
from cattrs.preconf.json import make_converter

#: The shared converter. Extra keys in input are rejected (``forbid_extra_keys``).
converter = make_converter(forbid_extra_keys=True)


def _structure_datetime(value: Any, _type: type) -> dt.datetime:
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


converter.register_structure_hook(dt.datetime, _structure_datetime)
converter.register_unstructure_hook(dt.datetime, lambda d: d.isoformat())
converter.register_unstructure_hook(enum.Enum, lambda e: e.value)


_PRIMITIVES = {
    bool: ("true or false", lambda v: isinstance(v, bool)),
    int: ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    str: ("a string", lambda v: isinstance(v, str)),
}


def structure_options(raw: dict[str, Any], cls: type, where: str) -> Any:
    """Structure a config table into attrs class ``cls``, strictly, reporting every problem.

    Unlike a plain ``converter.structure`` it never coerces (``"5"`` is not an integer,
    ``5.7`` is not one either), runs each field's attrs validator on its own, and raises
    :class:`~qorch.errors.ConfigError` with one line per bad key:
    ``where.key = value: expected ...``.
    """
    from qorch.errors import ConfigError

    attrs.resolve_types(cls)
    fields = attrs.fields_dict(cls)
    problems = [
        f"{where}.{key}: unknown option; {cls.__name__} has {', '.join(fields) or 'none'}"
        for key in raw
        if key not in fields
    ]
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in raw:
            continue
        value, hint = raw[name], field.type
        assert hint is not None  # resolve_types() gave every field its type
        primitive = _PRIMITIVES.get(hint)
        if typing.get_origin(hint) in (list, tuple, set, frozenset):
            primitive = ("a list", lambda v: isinstance(v, list))
        if primitive is not None and not primitive[1](value):
            problems.append(f"{where}.{name} = {value!r}: expected {primitive[0]}")
            continue
        try:
            value = converter.structure(value, hint)
            if field.validator is not None:
                field.validator(None, field, value)
        except (ValueError, TypeError, cattrs.BaseValidationError) as exc:
            problems.append(f"{where}.{name} = {value!r}: {_reason(exc)}")
            continue
        values[name] = value
    if problems:
        raise ConfigError(problems)
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:  # a cross-field check in __attrs_post_init__
        raise ConfigError([f"{where}: {exc}"]) from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc))
    if exc.args and isinstance(exc.args[0], str):
        return exc.args[0]  # attrs validators put the message first, then the attribute
    return str(exc) or type(exc).__name__
