"""The node protocol (FR-001, FR-005, FR-014; ``docs/protocol.md``): verbs, bodies, errors.

Every request body is a JSON object checked here before anything acts on it; a bad one
gets the reply ``{"ok": false, "error": {"code": "bad_request", "message", "where"}}``.
Requests that belong to a job carry ``correlation``: ``{"job_id", "fragment_id",
"attempt", "request_id"}``; replies echo it.

=============  ===========================  ==========================================
verb           served by                    body
=============  ===========================  ==========================================
``announce``   coordinators, observers      an advert (:mod:`qorch.node.advert`)
``subscribe``  nodes, coordinators          ``{}``: send me your adverts; who do you know?
``report``     coordinators, observers      ``{"node_id", "fidelity", "timestamp"}``
``status``     nodes                        ``{}``
``reserve``    nodes                        correlation, operation, qubits, start,
                                            duration_s, min_fidelity
``cancel``     nodes                        correlation, reservation_id
``execute``    nodes                        correlation, reservation_id, ops
=============  ===========================  ==========================================
"""

from __future__ import annotations

import math
import time
from typing import Any

from qorch.node.reservations import Correlation

PROTOCOL_VERSION = "1.0.0"
NODE_VERBS = ("subscribe", "status", "reserve", "cancel", "execute")
REGISTRY_VERBS = ("announce", "subscribe", "report")
#: every code a failure reply may carry (``docs/protocol.md`` explains each)
ERROR_CODES = (
    "bad_request",
    "advert_rejected",
    "conflict",
    "capacity",
    "fidelity",
    "invalid",
    "not_found",
    "no_reservation",
    "internal",
)
MAX_OPS = 100_000


class BadRequest(Exception):
    """A request body failed validation at ``where``."""

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.where = where


def error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """A failure reply; ``code`` must be one of :data:`ERROR_CODES`."""
    if code not in ERROR_CODES:
        raise ValueError(f"undocumented error code {code!r}")
    return {"ok": False, "error": {"code": code, "message": message, **extra}}


def bad_request(exc: BadRequest) -> dict[str, Any]:
    """The reply to a body that failed validation."""
    return error("bad_request", str(exc), where=exc.where)


def _number(body: dict[str, Any], key: str, lo: float, hi: float = math.inf) -> float:
    v = body.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise BadRequest(f"{key} = {v!r}: expected a number", key)
    if not lo <= v <= hi:
        raise BadRequest(f"{key} = {v!r}: expected {lo:g} <= {key} <= {hi:g}", key)
    return float(v)


def _integer(body: dict[str, Any], key: str, lo: int, hi: int) -> int:
    v = body.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise BadRequest(f"{key} = {v!r}: expected an integer in [{lo}, {hi}]", key)
    return v


def _text(body: dict[str, Any], key: str, where: str | None = None) -> str:
    v = body.get(key)
    if not isinstance(v, str) or not 0 < len(v) <= 256:
        raise BadRequest(f"{key} = {v!r}: expected a string of 1-256 characters", where or key)
    return v


def correlation(body: dict[str, Any]) -> Correlation:
    """The correlation ids of a job request."""
    c = body.get("correlation")
    if not isinstance(c, dict):
        raise BadRequest(
            "correlation: expected {job_id, fragment_id, attempt, request_id}", "correlation"
        )
    return Correlation(
        _text(c, "job_id", "correlation.job_id"),
        _text(c, "fragment_id", "correlation.fragment_id"),
        _integer(c, "attempt", 0, 1_000_000),
        _text(c, "request_id", "correlation.request_id"),
    )


def correlation_dict(c: Correlation) -> dict[str, Any]:
    """Correlation ids as they travel."""
    return {
        "job_id": c.job_id,
        "fragment_id": c.fragment_id,
        "attempt": c.attempt,
        "request_id": c.request_id,
    }


def reserve_request(body: dict[str, Any]) -> dict[str, Any]:
    """Validated fields of a ``reserve`` body."""
    return {
        "correlation": correlation(body),
        "operation": _text(body, "operation"),
        "qubits": _integer(body, "qubits", 1, 100_000),
        "start": _number(body, "start", 0.0),
        "duration": _number(body, "duration_s", 1e-9, 86_400.0),
        "min_fidelity": _number(body, "min_fidelity", 0.0, 1.0),
    }


def execute_request(body: dict[str, Any]) -> dict[str, Any]:
    """Validated fields of an ``execute`` body (``ops``: name, qubits, params)."""
    ops = body.get("ops")
    if not isinstance(ops, list) or len(ops) > MAX_OPS:
        raise BadRequest(f"ops: expected a list of at most {MAX_OPS} operations", "ops")
    clean = []
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or not isinstance(op.get("name"), str):
            raise BadRequest(f"ops[{i}]: expected {{name, qubits, params}}", f"ops[{i}]")
        qubits = op.get("qubits", [])
        if not isinstance(qubits, list) or not all(
            isinstance(q, int) and not isinstance(q, bool) and q >= 0 for q in qubits
        ):
            raise BadRequest(f"ops[{i}].qubits: expected non-negative integers", f"ops[{i}].qubits")
        clean.append({"name": op["name"], "qubits": qubits, "params": op.get("params", [])})
    return {
        "correlation": correlation(body),
        "reservation_id": _text(body, "reservation_id"),
        "ops": clean,
    }


def cancel_request(body: dict[str, Any]) -> dict[str, Any]:
    """Validated fields of a ``cancel`` body."""
    return {"correlation": correlation(body), "reservation_id": _text(body, "reservation_id")}


def report_request(body: dict[str, Any]) -> dict[str, Any]:
    """Validated fields of a ``report`` body."""
    return {
        "node_id": _text(body, "node_id"),
        "fidelity": _number(body, "fidelity", 0.0, 1.0),
        "timestamp": _number(body, "timestamp", 0.0),
    }


def reserve_body(fragment: str, qubits: int = 1, min_fidelity: float = 0.5) -> dict[str, Any]:
    """A ``reserve`` request for a one-second window starting now (FR-005)."""
    return {
        "correlation": {"job_id": "j", "fragment_id": fragment, "attempt": 0, "request_id": "r"},
        "operation": "fragment",
        "qubits": qubits,
        "start": time.time(),
        "duration_s": 1.0,
        "min_fidelity": min_fidelity,
    }
