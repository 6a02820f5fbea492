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
``handout``    nodes                        a node's part of a plan (choreography)
``notice``     nodes (from peer nodes)      ``{"run_id", "fragment_id", "hops", "from"}``
``ebit``       nodes (from peer nodes)      ``{"run_id", "fragment_id", "attempt", "hops"}``
``bits``       nodes (from peer nodes)      the same and the sender's ``record``
``progress``   nodes (from peer nodes)      ``{"run_id", "fragment_id"}``
``collect``    nodes                        ``{"run_id"}``: the part's records, when done
=============  ===========================  ==========================================

The last six are the choreography of the ``distributed`` orchestration (issue 17,
:mod:`qorch.node.choreography`).
"""

from __future__ import annotations

import time
from typing import Any, TypeVar

import attrs

from qorch.converters import (
    Check,
    Rejected,
    ignore_unknown_keys,
    integer,
    number,
    structure,
    text,
)
from qorch.node.reservations import Correlation

T = TypeVar("T")

PROTOCOL_VERSION = "1.1.0"  # 1.1: the choreography verbs, status.peers (issue 17)
CHOREOGRAPHY_VERBS = ("handout", "notice", "ebit", "bits", "progress", "collect")
#: the verbs nodes send each other (their body names the sender: ``from``)
PEER_VERBS = frozenset({"notice", "ebit", "bits", "progress"})
NODE_VERBS = ("subscribe", "status", "reserve", "cancel", "execute", *CHOREOGRAPHY_VERBS)
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
    "unknown_run",
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


TEXT = text(256)


def _body(cls: type[T], body: Any) -> T:
    """``body`` as a ``cls``, or :class:`BadRequest` naming the first problem."""
    try:
        return structure(body, cls)
    except Rejected as exc:
        first = exc.problems[0]
        raise BadRequest(str(first), first.where) from None


@ignore_unknown_keys  # a minor version may add optional fields (docs/protocol.md §4)
@attrs.frozen
class CorrelationBody:
    """``correlation``: the ids that tie a request to a job's fragment attempt."""

    job_id: str = attrs.field(validator=TEXT)
    fragment_id: str = attrs.field(validator=TEXT)
    attempt: int = attrs.field(validator=integer(0, 1_000_000))
    request_id: str = attrs.field(validator=TEXT)

    def ids(self) -> Correlation:
        """The ids as the reservations book keeps them."""
        return Correlation(self.job_id, self.fragment_id, self.attempt, self.request_id)


@ignore_unknown_keys
@attrs.frozen
class ReserveBody:
    """A ``reserve`` request."""

    correlation: CorrelationBody
    operation: str = attrs.field(validator=TEXT)
    qubits: int = attrs.field(validator=integer(1, 100_000))
    start: float = attrs.field(validator=number(0))
    duration_s: float = attrs.field(validator=number(1e-9, 86_400.0))
    min_fidelity: float = attrs.field(validator=number(0, 1))


@ignore_unknown_keys
@attrs.frozen
class WireOp:
    """One operation of an ``execute`` request."""

    name: str
    qubits: tuple[int, ...] = attrs.field(
        default=(),
        validator=Check("a list of non-negative integers", lambda v: min(v, default=0) >= 0),
    )
    params: tuple[float, ...] = ()


@ignore_unknown_keys
@attrs.frozen
class ExecuteBody:
    """An ``execute`` request."""

    correlation: CorrelationBody
    reservation_id: str = attrs.field(validator=TEXT)
    ops: tuple[WireOp, ...] = attrs.field(
        validator=Check(f"a list of at most {MAX_OPS} operations", lambda v: len(v) <= MAX_OPS)
    )


@ignore_unknown_keys
@attrs.frozen
class CancelBody:
    """A ``cancel`` request."""

    correlation: CorrelationBody
    reservation_id: str = attrs.field(validator=TEXT)


@ignore_unknown_keys
@attrs.frozen
class ReportBody:
    """A ``report`` request: a node's own fidelity (FR-008)."""

    node_id: str = attrs.field(validator=TEXT)
    fidelity: float = attrs.field(validator=number(0, 1))
    timestamp: float = attrs.field(validator=number(0))


NODE_NAME = text(128)
#: fragments in one node's part of a plan, and peers it may call, at most
MAX_PART_FRAGMENTS = 10_000
MAX_PEERS = 1_000


@ignore_unknown_keys
@attrs.frozen
class ContactBody:
    """How a node reaches a peer node: its peer id and addresses to dial."""

    peer_id: str = attrs.field(validator=TEXT)
    addresses: tuple[str, ...] = attrs.field(
        default=(), validator=Check("at most 16 addresses", lambda v: len(v) <= 16)
    )


@ignore_unknown_keys
@attrs.frozen
class DependencyBody:
    """A predecessor of a fragment: its id and the nodes that run it (the first of them
    sends its completion notice)."""

    id: str = attrs.field(validator=TEXT)
    nodes: tuple[str, ...] = attrs.field(
        validator=Check("one or two node names", lambda v: 1 <= len(v) <= 2)
    )


@ignore_unknown_keys
@attrs.frozen
class PartFragmentBody:
    """One fragment of a node's part: ``ops`` only for its first node (the initiator of
    a remote interaction), ``notify`` the nodes its completion notice goes to."""

    id: str = attrs.field(validator=TEXT)
    kind: str = attrs.field(
        validator=Check(
            "local, entangle, disentangle or teleport",
            lambda v: v in ("local", "entangle", "disentangle", "teleport"),
        )
    )
    nodes: tuple[str, ...] = attrs.field(
        validator=Check("one or two node names", lambda v: 1 <= len(v) <= 2)
    )
    ops: tuple[WireOp, ...] = attrs.field(
        default=(),
        validator=Check(f"a list of at most {MAX_OPS} operations", lambda v: len(v) <= MAX_OPS),
    )
    depends_on: tuple[DependencyBody, ...] = ()
    notify: tuple[str, ...] = ()


@ignore_unknown_keys
@attrs.frozen
class HandoutBody:
    """A ``handout``: this node's part of run ``correlation.job_id`` (issue 17)."""

    correlation: CorrelationBody
    node: str = attrs.field(validator=NODE_NAME)
    reservation_id: str = attrs.field(validator=TEXT)
    deadline: float = attrs.field(validator=number(0))
    attempts: int = attrs.field(validator=integer(1, 100))
    delays_s: tuple[float, ...] = attrs.field(
        validator=Check("at most 100 delays, each in [0, 600] s",
                        lambda v: len(v) <= 100 and all(0 <= d <= 600 for d in v))
    )  # fmt: skip
    execute_timeout_s: float = attrs.field(validator=number(1e-3, 3600))
    peer_wait_s: float = attrs.field(validator=number(1e-3, 3600))
    fragments: tuple[PartFragmentBody, ...] = attrs.field(
        validator=Check(
            f"a list of 1-{MAX_PART_FRAGMENTS} fragments",
            lambda v: 1 <= len(v) <= MAX_PART_FRAGMENTS,
        )
    )
    peers: dict[str, ContactBody] = attrs.field(
        factory=dict,
        validator=Check(f"at most {MAX_PEERS} peers", lambda v: len(v) <= MAX_PEERS),
    )


@ignore_unknown_keys
@attrs.frozen
class PeerMessageBody:
    """A ``notice``, ``ebit``, ``bits`` or ``progress`` between the nodes of one run,
    and the coordinator's ``collect``: the run, the fragment (``*`` for ``collect``),
    the attempt of a remote interaction, the control-plane hops on the chain it ends,
    the sending node (``from``, unchecked: it only places the message on a link),
    and for ``bits`` the sender's execution record."""

    run_id: str = attrs.field(validator=TEXT)
    fragment_id: str = attrs.field(default="*", validator=TEXT)
    attempt: int = attrs.field(default=0, validator=integer(0, 1_000_000))
    hops: int = attrs.field(default=0, validator=integer(0, 1_000_000))
    record: dict[str, Any] | None = None


def handout_request(body: dict[str, Any]) -> HandoutBody:
    """A validated ``handout`` body."""
    return _body(HandoutBody, body)


def peer_message(body: dict[str, Any]) -> PeerMessageBody:
    """A validated ``notice``, ``ebit``, ``bits``, ``progress`` or ``collect`` body."""
    return _body(PeerMessageBody, body)


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
    req = _body(ReserveBody, body)
    return {
        "correlation": req.correlation.ids(),
        "operation": req.operation,
        "qubits": req.qubits,
        "start": req.start,
        "duration": req.duration_s,
        "min_fidelity": req.min_fidelity,
    }


def execute_request(body: dict[str, Any]) -> dict[str, Any]:
    """Validated fields of an ``execute`` body (``ops``: name, qubits, params)."""
    req = _body(ExecuteBody, body)
    return {
        "correlation": req.correlation.ids(),
        "reservation_id": req.reservation_id,
        "ops": [
            {"name": op.name, "qubits": list(op.qubits), "params": list(op.params)}
            for op in req.ops
        ],
    }


def cancel_request(body: dict[str, Any]) -> dict[str, Any]:
    """Validated fields of a ``cancel`` body."""
    req = _body(CancelBody, body)
    return {"correlation": req.correlation.ids(), "reservation_id": req.reservation_id}


def report_request(body: dict[str, Any]) -> dict[str, Any]:
    """Validated fields of a ``report`` body."""
    return attrs.asdict(_body(ReportBody, body))


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
