"""Service advertisements (FR-001): the versioned schema, encoding and validation.

A node announces what it offers in one JSON object (UTF-8, at most
``[network] max_advert_bytes``)::

    {
      "schema": "qorch.advert", "version": "1.1",
      "node_id": "qpu-a", "peer_id": "12D3KooW...",
      "addresses": ["/ip4/127.0.0.1/tcp/40123/p2p/12D3KooW..."],
      "timestamp": 1795000000.25, "sequence": 7, "ttl_s": 10.0,
      "service_type": "superconducting", "availability": "available",
      "qubit_range": [1, 8], "fidelity": 0.99,
      "services": {"cx": {"fidelity": 0.99, "duration_ns": 300}, "h": 0.9995},
      "links": [{"node_id": "qpu-b", "fidelity": 0.97, "latency_ms": 1.0}],
      "t1_us": 2000000.0, "t2_us": 1000000.0, "comm_qubits": 2, "fidelity_scale": 1.0
    }

``qubit_range`` is the fewest and most qubits one reservation may hold; ``fidelity`` the
headline figure (the node's worst two-qubit gate, or worst gate if it has none);
``services`` uses the topology file's gate table, so an advert and a ``[[nodes]]`` entry
describe a node the same way. Since 1.1, optional: ``t1_us``/``t2_us`` (coherence
times, both or neither, T2 <= 2 T1), ``comm_qubits`` (a bound on ebit halves and protocol
ancillas) and ``fidelity_scale`` (the degradation already in ``services``, so that it is
not applied twice). Versioning: a receiver accepts every minor version of
the major versions it knows (unknown fields of a newer minor are ignored) and rejects
another major. :func:`decode_advert` raises :class:`AdvertError` with a ``reason``
code — ``oversized``, ``malformed``, ``schema``, ``version``, ``stale``, ``future``,
``identity`` — a message and the field it concerns.
"""

from __future__ import annotations

import json
import typing
from typing import Any, Literal

import attrs

from qorch.converters import (
    Check,
    Rejected,
    ignore_unknown_keys,
    integer,
    number,
    one_of,
    structure,
    text,
)
from qorch.errors import QorchError
from qorch.gates import GATES
from qorch.topology import (
    GATE_TABLE,
    MICROSECONDS,
    GateSpec,
    GateTable,
    NodeSpec,
    coherence,
    gate_specs,
)

SCHEMA = "qorch.advert"
VERSION = "1.1"
KNOWN_MAJORS = ("1",)
Availability = Literal["available", "draining", "unavailable"]
AVAILABILITY: tuple[str, ...] = ("available", "draining", "unavailable")
REASONS = ("oversized", "malformed", "schema", "version", "stale", "future", "identity")


class AdvertError(QorchError):
    """An advertisement was rejected: ``reason`` (one of :data:`REASONS`) and ``where``."""

    kind = "advert"

    def __init__(self, reason: str, message: str, where: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.where = where

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "advert", "reason", "message", "where"}``."""
        return {"kind": self.kind, "reason": self.reason, "message": str(self), "where": self.where}


NAME = text(128, what="a name", without="|")


@attrs.frozen
class LinkQuality:
    """What a node reports about its quantum link to another node."""

    node_id: str = attrs.field(validator=NAME)
    fidelity: float = attrs.field(validator=number(0, 1))
    latency_ms: float = attrs.field(validator=number(0))


@attrs.frozen
class Advert:
    """One validated advertisement (see the module docstring for the wire form)."""

    node_id: str
    peer_id: str
    addresses: tuple[str, ...]
    timestamp: float
    sequence: int
    ttl_s: float
    service_type: str
    availability: Availability
    qubit_range: tuple[int, int]
    services: dict[str, GateSpec]
    links: tuple[LinkQuality, ...] = ()
    version: str = VERSION
    coherence: tuple[float, float] | None = None  # (T1, T2) in µs
    comm_qubits: int | None = None
    fidelity_scale: float = 1.0

    @property
    def fidelity(self) -> float:
        """Headline fidelity: the worst two-qubit gate (or worst gate, if none)."""
        return headline_fidelity(self.services)

    def to_dict(self) -> dict[str, Any]:
        """The wire form."""
        return {
            "schema": SCHEMA,
            "version": self.version,
            "node_id": self.node_id,
            "peer_id": self.peer_id,
            "addresses": list(self.addresses),
            "timestamp": self.timestamp,
            "sequence": self.sequence,
            "ttl_s": self.ttl_s,
            "service_type": self.service_type,
            "availability": self.availability,
            "qubit_range": list(self.qubit_range),
            "fidelity": self.fidelity,
            "services": {
                name: {"fidelity": g.fidelity, "duration_ns": g.duration_ns}
                for name, g in sorted(self.services.items())
            },
            "links": [attrs.asdict(lk) for lk in self.links],
            **(
                {}
                if self.coherence is None
                else dict(zip(("t1_us", "t2_us"), self.coherence, strict=True))
            ),
            **({} if self.comm_qubits is None else {"comm_qubits": self.comm_qubits}),
            "fidelity_scale": self.fidelity_scale,
        }

    def encode(self) -> bytes:
        """Compact UTF-8 JSON with sorted keys."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    def content(self) -> str:
        """What the node offers, apart from time, sequence and addresses: a change in it is
        re-advertised at once (FR-001)."""
        data = self.to_dict()
        for key in ("timestamp", "sequence", "addresses"):
            data.pop(key)
        return json.dumps(data, sort_keys=True)

    def node_spec(self, available: bool = True, degraded: bool = False) -> NodeSpec:
        """The node as the compiler sees it."""
        return NodeSpec(
            self.node_id,
            self.qubit_range[1],
            dict(self.services),
            self.service_type,
            available=available and self.availability == "available",
            degraded=degraded,
            t1_us=None if self.coherence is None else self.coherence[0],
            t2_us=None if self.coherence is None else self.coherence[1],
            comm_qubits=self.comm_qubits,
            fidelity_scale=self.fidelity_scale,
        )


@ignore_unknown_keys  # a newer minor version may add fields
@attrs.frozen(kw_only=True)
class AdvertBody:
    """The fields of an advert's wire form (module docstring), checked by the converter;
    ``schema``, ``version`` and the headline ``fidelity`` are read apart."""

    node_id: str = attrs.field(validator=NAME)
    peer_id: str = attrs.field(validator=NAME)
    addresses: tuple[str, ...] = attrs.field(
        default=(),
        validator=Check(
            "a list of at most 16 strings of 1-512 characters",
            lambda v: len(v) <= 16 and all(0 < len(a) <= 512 for a in v),
        ),
    )
    timestamp: float = attrs.field(validator=number(0))
    sequence: int = attrs.field(validator=integer(0))
    ttl_s: float = attrs.field(validator=number(0.01))
    service_type: str = attrs.field(validator=NAME)
    availability: str = attrs.field(validator=one_of(*AVAILABILITY))
    qubit_range: tuple[int, ...] = attrs.field(
        validator=Check(
            "[min, max] with 1 <= min <= max <= 100000",
            lambda v: len(v) == 2 and 1 <= v[0] <= v[1] <= 100_000,
        )
    )
    services: GateTable = attrs.field(validator=GATE_TABLE)
    links: tuple[LinkQuality, ...] = attrs.field(
        default=(), validator=Check("a list of at most 1024 links", lambda v: len(v) <= 1024)
    )
    t1_us: float | None = attrs.field(default=None, validator=MICROSECONDS.optional())
    t2_us: float | None = attrs.field(default=None, validator=MICROSECONDS.optional())
    comm_qubits: int | None = attrs.field(default=None, validator=integer(1).optional())
    fidelity_scale: float = attrs.field(default=1.0, validator=number(0, 1, open_low=True))

    def __attrs_post_init__(self) -> None:
        coherence(self.t1_us, self.t2_us)

    def advert(self, version: str) -> Advert:
        """The advert this body describes."""
        return Advert(
            self.node_id,
            self.peer_id,
            self.addresses,
            self.timestamp,
            self.sequence,
            self.ttl_s,
            self.service_type,
            typing.cast(Availability, self.availability),  # one of AVAILABILITY: checked
            (self.qubit_range[0], self.qubit_range[1]),
            gate_specs(self.services),
            self.links,
            version,
            coherence(self.t1_us, self.t2_us),
            self.comm_qubits,
            self.fidelity_scale,
        )


def headline_fidelity(services: dict[str, GateSpec]) -> float:
    """Worst two-qubit gate fidelity of ``services``; worst of all gates if none is 2-qubit."""
    two = [g.fidelity for n, g in services.items() if n in GATES and GATES[n].num_qubits == 2]
    every = [g.fidelity for g in services.values()]
    return min(two or every or [1.0])


def decode_advert(
    data: bytes,
    *,
    now: float,
    max_bytes: int,
    max_age_s: float,
    max_skew_s: float,
    sender: str | None = None,
) -> Advert:
    """Validate ``data`` received at ``now`` (unix seconds) from peer ``sender``.

    Rejects (raising :class:`AdvertError`): more than ``max_bytes``; not a UTF-8 JSON
    object; wrong schema or field values; an unknown major version; a timestamp more
    than ``max_age_s`` old or more than ``max_skew_s`` ahead; a ``peer_id`` that is not
    the authenticated ``sender`` (when given).
    """
    if len(data) > max_bytes:
        raise AdvertError("oversized", f"advert of {len(data)} bytes; the limit is {max_bytes}")
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdvertError("malformed", f"not UTF-8 JSON: {exc}") from None
    return advert_from_dict(raw, now=now, max_age_s=max_age_s, max_skew_s=max_skew_s, sender=sender)


def advert_from_dict(
    raw: Any,
    *,
    now: float,
    max_age_s: float,
    max_skew_s: float,
    sender: str | None = None,
) -> Advert:
    """Validate an already-parsed advert (see :func:`decode_advert`)."""
    if not isinstance(raw, dict):
        raise AdvertError("malformed", f"expected a JSON object, got {type(raw).__name__}")
    if raw.get("schema") != SCHEMA:
        raise AdvertError(
            "schema", f"schema = {raw.get('schema')!r}: expected {SCHEMA!r}", "schema"
        )
    version = raw.get("version")
    if not isinstance(version, str) or not _is_version(version):
        raise AdvertError("schema", f"version = {version!r}: expected 'MAJOR.MINOR'", "version")
    if version.split(".")[0] not in KNOWN_MAJORS:
        raise AdvertError(
            "version",
            f"advert version {version} is not supported (known major versions: "
            f"{', '.join(KNOWN_MAJORS)})",
            "version",
        )
    try:
        body = structure(raw, AdvertBody)
    except Rejected as exc:
        first = exc.problems[0].where
        raise AdvertError("schema", "; ".join(str(p) for p in exc.problems), first) from None
    timestamp = body.timestamp
    if now - timestamp > max_age_s:
        raise AdvertError(
            "stale",
            f"advert is {now - timestamp:.3f} s old; the limit is {max_age_s:g} s",
            "timestamp",
        )
    if timestamp - now > max_skew_s:
        raise AdvertError(
            "future",
            f"advert is stamped {timestamp - now:.3f} s in the future; the limit is "
            f"{max_skew_s:g} s",
            "timestamp",
        )
    if sender is not None and body.peer_id != sender:
        raise AdvertError(
            "identity", f"advert claims peer {body.peer_id} but came from peer {sender}", "peer_id"
        )
    return body.advert(version)


def _is_version(version: str) -> bool:
    parts = version.split(".")
    return len(parts) == 2 and all(p.isdigit() and len(p) <= 4 for p in parts)


def advert_for(
    spec: NodeSpec,
    *,
    peer_id: str,
    timestamp: float,
    sequence: int,
    ttl_s: float,
    addresses: tuple[str, ...] = (),
    links: tuple[LinkQuality, ...] = (),
    availability: Availability = "available",
    min_qubits: int = 1,
) -> Advert:
    """The advert of a node described by ``spec`` (a topology ``[[nodes]]`` entry)."""
    return Advert(
        spec.name,
        peer_id,
        tuple(addresses),
        timestamp,
        sequence,
        ttl_s,
        spec.node_type,
        availability,
        (min(min_qubits, spec.qubits), spec.qubits),
        dict(spec.gates),
        tuple(links),
        coherence=None if spec.t1_us is None or spec.t2_us is None else (spec.t1_us, spec.t2_us),
        comm_qubits=spec.comm_qubits,
        fidelity_scale=spec.fidelity_scale,
    )
