"""The one cattrs converter of qorch, and the one way inputs are validated (DESIGN §5,
FR-011, FR-014).

Everything that crosses a boundary — settings, plugin options, topology files, adverts,
node protocol bodies, suites, the HTTP API's submit body, store records — is structured
by :data:`converter`, so the rules are the same everywhere:

* **strict primitives**: ``"5"`` is not an integer, ``True`` is not a number, ``5.0`` is
  not an integer, a string is not a list, a list is not a table;
* **attrs validators**: a field's bounds are an attrs validator, usually a :class:`Check`,
  which says what it expects; :func:`integer`, :func:`number`, :func:`one_of` and
  :func:`text` make the common ones, so the same bound reads the same in every input;
* **every problem at once**: :func:`structure` runs each field's validator as the field
  is structured and turns the exception group cattrs raises into a list of
  :class:`Problem` — ``where`` (``nodes[1].gates.cx``), the ``value`` found, what was
  ``expected`` and the ``message`` — raised as :class:`Rejected`;
* unknown keys are errors (a class marked :func:`ignore_unknown_keys`, a wire message
  that a newer minor version may extend, ignores them); enums travel by value,
  datetimes as ISO 8601 strings, tuples as lists.

Each input keeps its own error type (``ConfigError``, ``TopologyError``, ``AdvertError``,
``BadRequest``, the API's 422) built from these problems, so they all say
``where = value: expected ...``.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import enum
import math
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory
from cattrs.gen import make_dict_structure_fn, make_mapping_structure_fn, override
from cattrs.preconf.json import make_converter

from qorch.errors import ConfigError, QorchError

T = TypeVar("T")

#: The shared converter. Extra keys in input are rejected (``forbid_extra_keys``).
converter = make_converter(forbid_extra_keys=True)


class _Absent:
    """The type of :data:`ABSENT`."""

    def __repr__(self) -> str:
        return "ABSENT"


#: the value of a problem about a key that has none (missing, or unknown)
ABSENT: Any = _Absent()


def _structure_datetime(value: Any, _type: type) -> dt.datetime:
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


converter.register_structure_hook(dt.datetime, _structure_datetime)
converter.register_unstructure_hook(dt.datetime, lambda d: d.isoformat())
converter.register_unstructure_hook(enum.Enum, lambda e: e.value)


# -- problems -----------------------------------------------------------------------------


def short(value: Any) -> str:
    """``repr(value)``, cut to 60 characters."""
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


@attrs.frozen
class Problem:
    """One thing wrong with an input (FR-011, FR-014): ``where`` it is (a dotted path,
    ``[i]`` for list items), the ``value`` found there (:data:`ABSENT` for a missing or
    unknown key), what was ``expected`` (``None`` when the problem is not a bound) and
    the ``message`` — ``expected ...`` or a reason such as ``duplicate node name``."""

    where: str
    message: str
    value: Any = ABSENT
    expected: str | None = None

    def __str__(self) -> str:
        if self.value is ABSENT:
            head = self.where
        else:
            head = f"{self.where} = {short(self.value)}" if self.where else short(self.value)
        return f"{head}: {self.message}" if head else self.message

    def to_dict(self) -> dict[str, Any]:
        """``{"where", "message", "value"?, "expected"?}`` (JSON-able when the value is)."""
        out: dict[str, Any] = {"where": self.where, "message": self.message}
        if self.value is not ABSENT:
            out["value"] = self.value
        if self.expected is not None:
            out["expected"] = self.expected
        return out


class Invalid(QorchError, ValueError):
    """One value is wrong: raised by the converter's hooks and by :class:`Check` (so also
    by constructing an attrs class with a bad value). ``where`` is relative to the value
    being structured (a field name, or empty)."""

    kind = "invalid"

    def __init__(
        self, message: str, value: Any = ABSENT, expected: str | None = None, where: str = ""
    ) -> None:
        self.problem = Problem(where, message, value, expected)
        super().__init__(str(self.problem))


class Rejected(QorchError):
    """An input failed :func:`structure`: every :class:`Problem` found, in input order
    (unknown keys of a table before its fields' problems)."""

    kind = "invalid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "invalid", "message", "problems": [...]}``."""
        return {
            "kind": self.kind,
            "message": str(self),
            "problems": [p.to_dict() for p in self.problems],
        }


# -- checks: attrs validators that say what they expect -----------------------------------


@attrs.frozen
class Check:
    """An attrs validator: ``test(value)`` must hold, else :class:`Invalid` says
    ``expected <expected>`` (or ``reason``, when given). ``none_ok``: ``None`` passes (an
    optional field; see :meth:`optional`)."""

    expected: str
    test: Callable[[Any], bool] = attrs.field(eq=False, repr=False)
    reason: str | None = None
    none_ok: bool = False

    @property
    def message(self) -> str:
        """What a failure says after ``where = value:``."""
        return self.reason or f"expected {self.expected}"

    def holds(self, value: Any) -> bool:
        """Whether ``value`` passes (a value the test cannot even compare does not)."""
        if value is None and self.none_ok:
            return True
        try:
            return bool(self.test(value))
        except TypeError:
            return False

    def __call__(self, _instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not self.holds(value):
            raise Invalid(self.message, value, self.expected, attribute.name)

    def optional(self) -> Check:
        """The same check, letting ``None`` through."""
        return attrs.evolve(self, none_ok=True)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _bound(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _range_text(lo: float | None, hi: float | None, *, open_low: bool = False) -> str:
    if lo is not None and hi is not None:
        return f" in {'(' if open_low else '['}{_bound(lo)}, {_bound(hi)}]"
    if lo is not None:
        return f" {'>' if open_low else '>='} {_bound(lo)}"
    return "" if hi is None else f" <= {_bound(hi)}"


def _within(value: float, lo: float | None, hi: float | None, open_low: bool) -> bool:
    above = lo is None or (value > lo if open_low else value >= lo)
    return above and (hi is None or value <= hi)


def integer(lo: float | None = None, hi: float | None = None) -> Check:
    """An integer (never a bool) in ``[lo, hi]``: ``an integer >= 1``,
    ``an integer in [1, 100000]``."""
    return Check(
        "an integer" + _range_text(lo, hi),
        lambda v: _is_int(v) and _within(v, lo, hi, False),
    )


def number(
    lo: float | None = None,
    hi: float | None = None,
    *,
    open_low: bool = False,
    what: str = "a number",
) -> Check:
    """A finite number (an integer will do; never a bool) from ``lo`` (excluded when
    ``open_low``) to ``hi``: ``a number >= 0``, ``a fidelity in (0, 1]``."""
    return Check(
        what + _range_text(lo, hi, open_low=open_low),
        lambda v: _is_number(v) and _within(v, lo, hi, open_low),
    )


def one_of(*choices: str) -> Check:
    """One of ``choices``: ``one of 'auto', 'text', 'json'``."""
    return Check("one of " + ", ".join(repr(c) for c in choices), lambda v: v in choices)


def text(most: int, *, what: str = "a string", without: str = "") -> Check:
    """A string of 1 to ``most`` characters, none of them in ``without``."""
    tail = f" without {', '.join(repr(c) for c in without)}" if without else ""
    return Check(
        f"{what} of 1-{most} characters{tail}",
        lambda v: isinstance(v, str) and 0 < len(v) <= most and not set(v) & set(without),
    )


# -- what a type expects -------------------------------------------------------------------

_NAMES: dict[Any, tuple[str, str]] = {
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    str: ("a string", "strings"),
    bool: ("true or false", "booleans"),
}


def _optional_inner(t: Any) -> Any:
    args = typing.get_args(t)
    rest = [a for a in args if a is not type(None)]
    return rest[0] if len(rest) == 1 and len(args) == 2 else t


def describe(t: Any) -> str:
    """What a value of type ``t`` looks like in an input: ``an integer``, ``a list of
    strings``, ``a table``."""
    t = _optional_inner(t)
    if t in _NAMES:
        return _NAMES[t][0]
    origin = typing.get_origin(t)
    if origin in (list, tuple):
        item = typing.get_args(t)[0] if typing.get_args(t) else Any
        plural = _NAMES.get(item, ("", "tables" if _is_table(item) else ""))[1]
        return f"a list of {plural}" if plural else "a list"
    if _is_table(t):
        return "a table"
    return getattr(t, "__name__", str(t))


def _is_table(t: Any) -> bool:
    return attrs.has(t) or typing.get_origin(t) is dict


def _holds_tables(t: Any) -> bool:
    """Whether a value of ``t`` may hold an attrs class (its problems have deeper paths)."""
    return attrs.has(t) or any(_holds_tables(a) for a in typing.get_args(t))


def expected_of(field: attrs.Attribute) -> str:
    """What field ``field`` expects: its :class:`Check`'s text, else its type's."""
    if isinstance(field.validator, Check):
        return field.validator.expected
    return describe(field.type)


# -- the hooks -----------------------------------------------------------------------------


def _strict(kind: Any, accepts: Callable[[Any], bool], convert: Callable[[Any], Any]) -> None:
    def hook(value: Any, _type: Any) -> Any:
        if not accepts(value):
            raise Invalid(f"expected {describe(kind)}", value, describe(kind))
        return convert(value)

    converter.register_structure_hook(kind, hook)


_strict(int, _is_int, lambda v: v)
_strict(float, lambda v: isinstance(v, int | float) and not isinstance(v, bool), float)
_strict(str, lambda v: isinstance(v, str), lambda v: v)
_strict(bool, lambda v: isinstance(v, bool), lambda v: v)


def _shaped(kinds: tuple[type, ...], factory: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A hook factory: the value must be one of ``kinds`` before cattrs' own hook runs."""

    def make(t: Any) -> Callable[[Any, Any], Any]:
        base = factory(t)

        def hook(value: Any, type_: Any) -> Any:
            if not isinstance(value, kinds):
                raise Invalid(f"expected {describe(t)}", value, describe(t))
            return base(value, type_)

        return hook

    return make


def _is_typed_list(t: Any) -> bool:
    return typing.get_origin(t) is list and bool(typing.get_args(t))


def _is_homogenous_tuple(t: Any) -> bool:
    return typing.get_origin(t) is tuple and typing.get_args(t)[1:] == (...,)


def _is_typed_dict(t: Any) -> bool:
    return typing.get_origin(t) is dict and len(typing.get_args(t)) == 2


converter.register_structure_hook_factory(
    _is_typed_list, _shaped((list, tuple), lambda t: list_structure_factory(t, converter))
)
converter.register_structure_hook_factory(
    _is_homogenous_tuple,
    _shaped((list, tuple), lambda t: homogenous_tuple_structure_factory(t, converter)),
)
converter.register_structure_hook_factory(
    _is_typed_dict, _shaped((dict,), lambda t: make_mapping_structure_fn(t, converter, dict))
)

#: checks that depend on the call (registered names, a size limit): (class, field) -> check
_CHECKS: contextvars.ContextVar[Mapping[tuple[type, str], Check]] = contextvars.ContextVar(
    "checks", default=types.MappingProxyType({})
)
_LENIENT: set[type] = set()


def ignore_unknown_keys(cls: type[T]) -> type[T]:
    """Class decorator: keys ``cls`` does not know are ignored, not errors — a wire
    message that a newer minor version may extend (``docs/protocol.md`` §4)."""
    _LENIENT.add(cls)
    return cls


def _field_hook(cls: type, field: attrs.Attribute) -> Callable[[Any, Any], Any]:
    """Structure one field, then run its validator and any check of this call on it; a
    field that holds no table reports its problem at the field, with what it expects."""
    inner = converter.get_structure_hook(field.type)
    leaf = not _holds_tables(field.type)

    def hook(value: Any, type_: Any) -> Any:
        try:
            out = inner(value, type_)
        except (Invalid, cattrs.BaseValidationError):
            if not leaf:
                raise
            raise Invalid(f"expected {expected_of(field)}", value, expected_of(field)) from None
        for check in (field.validator, _CHECKS.get().get((cls, field.name))):
            if check is None:
                continue
            try:
                check(None, field, out)
            except Invalid as exc:  # the input's value, not the structured one
                raise Invalid(exc.problem.message, value, exc.problem.expected) from None
            except (ValueError, TypeError) as exc:  # another attrs validator: its message
                raise Invalid(_reason(exc), value) from None
        return out

    return hook


def table_hook(cls: type) -> Callable[[Any, Any], Any]:
    """The converter's hook for attrs class ``cls``: a table whose fields are structured
    and checked one by one, unknown keys refused (unless :func:`ignore_unknown_keys`)."""
    attrs.resolve_types(cls)
    hooks = {f.name: override(struct_hook=_field_hook(cls, f)) for f in attrs.fields(cls) if f.init}
    base: Callable[[Any, Any], Any] = make_dict_structure_fn(
        cls,
        converter,
        _cattrs_forbid_extra_keys=cls not in _LENIENT,
        **hooks,  # type: ignore[arg-type]  # cattrs types the overrides as one keyword, not **kwargs
    )

    def hook(value: Any, _type: Any) -> Any:
        if not isinstance(value, dict):
            raise Invalid("expected a table", value, "a table")
        return base(value, cls)

    return hook


converter.register_structure_hook_factory(attrs.has, table_hook)


def register_shorthand(cls: type, field: str) -> None:
    """Let a bare value stand for a table of ``cls`` giving only ``field`` (``cx = 0.99``
    for ``cx = {fidelity = 0.99}``); a bad one is reported where it stands, with what
    ``field`` expects."""
    table = table_hook(cls)
    expected = expected_of(attrs.fields_dict(cls)[field])

    def hook(value: Any, type_: Any) -> Any:
        if isinstance(value, dict):
            return table(value, type_)
        try:
            return table({field: value}, type_)
        except (Invalid, cattrs.BaseValidationError):
            raise Invalid(f"expected {expected}", value, expected) from None

    converter.register_structure_hook(cls, hook)


# -- structuring with every problem --------------------------------------------------------


def structure(
    data: Any,
    cls: type[T],
    where: str = "",
    checks: Mapping[tuple[type, str], Check] | None = None,
) -> T:
    """``data`` as a ``cls``, or :class:`Rejected` with every problem, paths starting at
    ``where``. ``checks`` adds checks that depend on the call to fields of any class
    structured on the way, keyed by (class, field name): e.g. the placement strategies
    registered, or the node names a topology's links may use."""
    token = _CHECKS.set(checks or {})
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, Invalid) as exc:
        raise Rejected(list(problems(exc, where))) from None
    finally:
        _CHECKS.reset(token)


def _join(where: str, name: Any) -> str:
    if isinstance(name, int):
        return f"{where}[{name}]"
    return f"{where}.{name}" if where and name else where or str(name)


def problems(exc: BaseException, where: str = "") -> Iterator[Problem]:
    """The problems in an exception cattrs or a hook raised, with paths from ``where``:
    a table's unknown keys and cross-field problems first, then its fields in order."""
    if isinstance(exc, cattrs.ClassValidationError):
        noted, plain = exc.group_exceptions()
        for e in plain:
            yield from problems(e, where)
        for e, note in noted:
            path = _join(where, note.name)
            if isinstance(e, KeyError):  # a required field is missing
                field = attrs.fields_dict(exc.cl)[note.name]
                yield Problem(path, f"expected {expected_of(field)}", expected=expected_of(field))
            else:
                yield from problems(e, path)
    elif isinstance(exc, cattrs.IterableValidationError):
        for e, index_note in exc.group_exceptions()[0]:
            yield from problems(e, _join(where, index_note.index))
    elif isinstance(exc, cattrs.ForbiddenExtraKeysError):
        known = ", ".join(f.name for f in attrs.fields(exc.cl) if f.init)
        for key in sorted(exc.extra_fields):
            yield Problem(_join(where, key), f"unknown key; expected one of {known}")
    elif isinstance(exc, Invalid):
        p = exc.problem
        yield attrs.evolve(p, where=_join(where, p.where) if p.where else where)
    else:  # a check in __attrs_post_init__ that raised a plain ValueError
        yield Problem(where, _reason(exc))


def _reason(exc: BaseException) -> str:
    if exc.args and isinstance(exc.args[0], str):
        return exc.args[0]  # attrs validators put the message first, then the attribute
    return str(exc) or type(exc).__name__


def structure_options(raw: dict[str, Any], cls: type, where: str) -> Any:
    """Plugin options (``[plugins.<kind>.<name>]``) as a ``cls``, by :func:`structure`:
    :class:`~qorch.errors.ConfigError` with one line per problem
    (``where.key = value: expected ...``)."""
    try:
        return structure(raw, cls, where)
    except Rejected as exc:
        raise ConfigError([str(p) for p in exc.problems]) from None
