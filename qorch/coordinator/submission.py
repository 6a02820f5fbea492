"""The body of ``POST /api/v1/circuits/submit`` (FR-009, FR-014): a circuit and how to
run it, checked by the converter's one mechanism (:mod:`qorch.converters`) like every
other input.

A body is a :class:`Submission` — a :class:`~qorch.runtime.job.JobRequest` with the
circuit's source — or a 422 naming every problem at once: a field of the wrong type
(``"5"`` is not a number of shots), a missing ``qasm``, an unknown field, a value out of
bounds, a circuit over ``[limits] max_qasm_bytes``, a strategy that is not registered.
The job's record in the store keeps it as plain data (:meth:`Submission.stored`), read
back by :meth:`Submission.from_stored` when a worker runs (or resumes) the job.
"""

from __future__ import annotations

import typing
from collections.abc import Collection
from typing import Any

import attrs
from litestar.exceptions import ValidationException
from litestar.openapi.spec import OpenAPIType, Schema

from qorch.converters import Check, Rejected, converter, one_of, structure
from qorch.runtime.job import JobRequest

FORMATS = ("auto", "qasm2", "qasm3")


@attrs.frozen(kw_only=True)
class Submission(JobRequest):
    """A circuit submitted to the job API: its OpenQASM source, its format (``auto``:
    from the header), and the :class:`~qorch.runtime.job.JobRequest` fields."""

    qasm: str = attrs.field(
        validator=Check("a non-empty circuit", lambda v: isinstance(v, str) and bool(v.strip()))
    )
    format: str = attrs.field(default="auto", validator=one_of(*FORMATS))

    def stored(self, request_id: str | None = None) -> dict[str, Any]:
        """The job record's ``request``: the fields that are set, and the id of the HTTP
        request that submitted it (FR-012)."""
        data = {k: v for k, v in converter.unstructure(self).items() if v is not None}
        return {**data, "request_id": request_id} if request_id else data

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> Submission:
        """A job record's ``request`` read back (:class:`~qorch.converters.Rejected` if
        it no longer passes)."""
        return structure({k: v for k, v in data.items() if k != "request_id"}, cls)


def submission_from_body(body: Any, strategies: Collection[str], max_bytes: int) -> Submission:
    """The submission ``body`` (decoded JSON) asks for, or a ``ValidationException`` (the
    API's 422) with one ``{"field", "message"}`` per problem: ``strategies`` are the
    placement strategies registered, ``max_bytes`` the largest circuit source."""
    checks: dict[tuple[type, str], Check] = {
        (Submission, "qasm"): Check(
            f"a circuit of at most {max_bytes} bytes", lambda q: len(q.encode()) <= max_bytes
        ),
        (Submission, "strategy"): one_of(*sorted(strategies)).optional(),
    }
    try:
        return structure(body, Submission, checks=checks)
    except Rejected as exc:
        extra = [{"field": p.where or None, "message": str(p)} for p in exc.problems]
        raise ValidationException("invalid submission", extra=extra) from None


_OPENAPI_TYPES = {
    int: OpenAPIType.INTEGER,
    float: OpenAPIType.NUMBER,
    str: OpenAPIType.STRING,
}


def openapi_schema(cls: type) -> dict[str, Any]:
    """The OpenAPI schema of a body of attrs class ``cls`` (its fields' types, nullable
    when optional; the fields without a default required), as ``Body(schema_extra=...)``
    takes it: the body is decoded as plain JSON and checked by :func:`structure`."""
    properties: dict[str, Schema] = {}
    for f in attrs.fields(attrs.resolve_types(cls)):
        args = typing.get_args(f.type)
        inner = next((a for a in args if a is not type(None)), f.type)
        schema = Schema(type=_OPENAPI_TYPES[inner])
        properties[f.name] = (
            Schema(one_of=[schema, Schema(type=OpenAPIType.NULL)]) if args else schema
        )
    return {
        "type": OpenAPIType.OBJECT,
        "title": cls.__name__,
        "properties": properties,
        "required": [f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING],
    }
