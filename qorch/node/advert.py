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
import math
from typing import Any, Literal

import attrs

from qorch.errors import QorchError
from qorch.gates import GATES
from qorch.topology import GateSpec, NodeSpec, coherence_problem, parse_gates

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


@attrs.frozen
class LinkQuality:
    """What a node reports about its quantum link to another node."""

    node_id: str
    fidelity: float
    latency_ms: float


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
    fields = _Fields(raw)
    node_id = fields.name("node_id")
    peer_id = fields.name("peer_id")
    addresses = fields.strings("addresses")
    timestamp = fields.number("timestamp", ge=0.0)
    sequence = fields.integer("sequence", ge=0)
    ttl_s = fields.number("ttl_s", ge=0.01)
    service_type = fields.name("service_type")
    availability = fields.choice("availability", AVAILABILITY)
    qubit_range = fields.qubit_range("qubit_range")
    services, problems = parse_gates(raw.get("services"), "services")
    fields.problems.extend(problems)
    links = fields.links("links")
    physics = fields.physics()
    if fields.problems:
        first = fields.problems[0]
        raise AdvertError("schema", "; ".join(fields.problems), first.split(" ")[0].split(":")[0])
    # no problem was found, so every reader returned its value
    assert node_id and peer_id and service_type and availability and qubit_range
    assert timestamp is not None and ttl_s is not None and sequence is not None
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
    if sender is not None and peer_id != sender:
        raise AdvertError(
            "identity", f"advert claims peer {peer_id} but came from peer {sender}", "peer_id"
        )
    return Advert(
        node_id,
        peer_id,
        addresses,
        timestamp,
        sequence,
        ttl_s,
        service_type,
        availability,  # type: ignore[arg-type]  # choice() checked it is one of AVAILABILITY
        qubit_range,
        services,
        links,
        version,
        **physics,
    )


def _is_version(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 2 and all(p.isdigit() and len(p) <= 4 for p in parts)


class _Fields:
    """Field readers that collect every problem with its field name."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.problems: list[str] = []

    def _bad(self, key: str, expected: str, value: Any = None) -> None:
        self.problems.append(f"{key} = {_short(value)}: expected {expected}")

    def name(self, key: str) -> str | None:
        value = self.raw.get(key)
        if not isinstance(value, str) or not 0 < len(value) <= 128 or "|" in value:
            self._bad(key, "a name of 1-128 characters without '|'", value)
            return None
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key, [])
        if not isinstance(value, list) or len(value) > 16:
            self._bad(key, "a list of at most 16 strings", value)
            return ()
        if not all(isinstance(v, str) and 0 < len(v) <= 512 for v in value):
            self._bad(key, "strings of 1-512 characters", value)
            return ()
        return tuple(value)

    def number(self, key: str, ge: float) -> float | None:
        value = self.raw.get(key)
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value < ge
        ):
            self._bad(key, f"a finite number >= {ge:g}", value)
            return None
        return float(value)

    def integer(self, key: str, ge: int) -> int | None:
        value = self.raw.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < ge:
            self._bad(key, f"an integer >= {ge}", value)
            return None
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str | None:
        value = self.raw.get(key)
        if value not in choices:
            self._bad(key, "one of " + ", ".join(choices), value)
            return None
        return value

    def physics(self) -> dict[str, Any]:
        """The optional coherence, ``comm_qubits`` and ``fidelity_scale`` (since 1.1)."""
        out: dict[str, Any] = {}
        t1, t2 = self.raw.get("t1_us"), self.raw.get("t2_us")
        if t1 is not None or t2 is not None:
            problem = coherence_problem(t1, t2)
            if problem is None:
                assert t1 is not None and t2 is not None  # coherence_problem checked both
                out["coherence"] = (float(t1), float(t2))
            else:
                self.problems.append(problem)
        if "comm_qubits" in self.raw:
            out["comm_qubits"] = self.integer("comm_qubits", ge=1)
        scale = self.number("fidelity_scale", ge=1e-9) if "fidelity_scale" in self.raw else 1.0
        if scale is not None and scale > 1.0:
            self._bad("fidelity_scale", "a number in (0, 1]", scale)
        out["fidelity_scale"] = scale if scale is not None else 1.0
        return out

    def qubit_range(self, key: str) -> tuple[int, int] | None:
        value = self.raw.get(key)
        if not (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            and 1 <= value[0] <= value[1] <= 100_000
        ):
            self._bad(key, "[min, max] with 1 <= min <= max <= 100000", value)
            return None
        return (value[0], value[1])

    def links(self, key: str) -> tuple[LinkQuality, ...]:
        value = self.raw.get(key, [])
        if not isinstance(value, list) or len(value) > 1024:
            self._bad(key, "a list of at most 1024 links", value)
            return ()
        out = []
        for i, item in enumerate(value):
            path = f"{key}[{i}]"
            if not isinstance(item, dict):
                self._bad(path, "a table", item)
                continue
            sub = _Fields(item)
            other = sub.name("node_id")
            fid = sub.number("fidelity", ge=0.0)
            lat = sub.number("latency_ms", ge=0.0)
            if fid is not None and fid > 1.0:
                sub._bad("fidelity", "a fidelity in (0, 1]", fid)
            self.problems.extend(f"{path}.{p}" for p in sub.problems)
            if not sub.problems:
                assert other is not None and fid is not None and lat is not None
                out.append(LinkQuality(other, fid, lat))
        return tuple(out)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
