"""The coordinator's registry of service nodes (FR-002, FR-008).

Adverts arrive as bytes from an authenticated peer (the transport says which); the
registry validates each (:func:`qorch.node.advert.decode_advert`), and an invalid one is
rejected, logged with its reason and counted — it never changes an entry. An entry is
*available* while its last advert is younger than its TTL (the advert's, capped at
``[network] advert_ttl_s``), the peer has not
disconnected, and the node says it is available; otherwise it stays listed as
unavailable (the compiler skips it), and forgotten after 60 TTLs of silence once
disconnected. A node id belongs to one peer at a time: another peer may take it over
only once the holder's entry has expired; one peer holds at most 64 node ids.

Quality (FR-008): nodes report fidelities (their adverts carry them too); the
coordinator records every call it makes to a node (round trip, success). A node is
*degraded* when its latest reported two-qubit fidelity is below ``[quality]
min_node_fidelity`` (the lower of its advert's and its last report's, if that report
is younger than the advert TTL), when more than ``max_link_failure_rate`` of its last ``window``
calls failed, or when their median round trip exceeds ``max_rtt_ms``; a link is
degraded below ``min_link_fidelity``. :meth:`NodeRegistry.snapshot` hands the compiler
and runtime the latest view as a :class:`~qorch.topology.Topology`. Every quality
sample is passed to ``on_quality`` as a :class:`~qorch.model.QualityReport` so the
coordinator can persist it (``kind`` ``node``; ``metric`` ``fidelity`` from adverts
and reports, ``rtt_ms`` from the coordinator's own calls, with ``ok``), and every
accepted advert to ``on_advert``; :meth:`NodeRegistry.restore` reloads a stored one
(see :mod:`qorch.coordinator.recorder`).
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import attrs
from loguru import logger

from qorch.config import NetworkSettings, QualitySettings
from qorch.model import QualityReport
from qorch.node.advert import Advert, AdvertError, decode_advert
from qorch.topology import LinkSpec, NodeSpec, Topology


@attrs.frozen
class NodeEntry:
    """What the registry knows of one node at one moment."""

    advert: Advert
    received_at: float
    available: bool
    degraded: bool
    reasons: tuple[str, ...]

    @property
    def node_id(self) -> str:
        """The node's name."""
        return self.advert.node_id

    def age(self, now: float) -> float:
        """Seconds since the last advert arrived."""
        return now - self.received_at

    def describe(self, now: float) -> dict[str, Any]:
        """What ``qorch nodes --json`` prints for this node."""
        a = self.advert
        return {
            "node": a.node_id,
            "peer_id": a.peer_id,
            "addresses": list(a.addresses),
            "service_type": a.service_type,
            "services": sorted(a.services),
            "qubits": list(a.qubit_range),
            "fidelity": a.fidelity,
            "availability": "available" if self.available else "unavailable",
            "age_s": round(self.age(now), 3),
            "degraded": self.degraded,
            "degraded_reasons": list(self.reasons),
            "sequence": a.sequence,
        }


@attrs.define
class _Record:
    advert: Advert
    received_at: float
    connected: bool = True
    reported_fidelity: float | None = None
    reported_at: float = 0.0
    calls: deque[tuple[float, bool]] = attrs.field(factory=deque)


#: node ids one peer may hold (a process hosts one node; a hub a few dozen)
MAX_NODES_PER_PEER = 64
#: an entry silent for this many TTLs (and disconnected) is forgotten
FORGET_AFTER_TTLS = 60


class NodeRegistry:
    """Validated adverts by node id, with expiry, queries and quality (module docstring)."""

    def __init__(
        self,
        network: NetworkSettings,
        quality: QualitySettings,
        *,
        clock: Callable[[], float] = time.time,
        on_quality: Callable[[QualityReport], None] | None = None,
        on_advert: Callable[[Advert, float], None] | None = None,
    ) -> None:
        self.network = network
        self.quality = quality
        self.clock = clock
        self.on_quality = on_quality
        self.on_advert = on_advert
        self._records: dict[str, _Record] = {}
        self.accepted = 0
        self.rejected: Counter[str] = Counter()

    # -- adverts -------------------------------------------------------------------------

    def offer(self, data: bytes, sender: str | None = None) -> Advert:
        """Validate and record an advert from peer ``sender``; raise :class:`AdvertError`.

        Besides the schema checks: an advert older (by sequence) than the one held is
        ``stale``; a node id held by another peer whose entry is still fresh is an
        ``identity`` conflict.
        """
        now = self.clock()
        try:
            advert = decode_advert(
                data,
                now=now,
                max_bytes=self.network.max_advert_bytes,
                max_age_s=self.network.advert_ttl_s,
                max_skew_s=self.network.max_clock_skew_s,
                sender=sender,
            )
            self._check_against_held(advert, now)
        except AdvertError as exc:
            self.rejected[exc.reason] += 1
            logger.warning("rejected advert from {}: {} ({})", sender or "?", exc, exc.reason)
            raise
        record = self._records.get(advert.node_id)
        if record is not None and record.advert.peer_id == advert.peer_id:
            record.advert, record.received_at, record.connected = advert, now, True
        else:
            self._records[advert.node_id] = _Record(advert, now)
        self.accepted += 1
        if self.on_advert is not None:
            self.on_advert(advert, now)
        self._sample(advert.node_id, "fidelity", advert.fidelity, True, f"advert:{sender}")
        return advert

    def _check_against_held(self, advert: Advert, now: float) -> None:
        record = self._records.get(advert.node_id)
        if record is None:
            count = sum(r.advert.peer_id == advert.peer_id for r in self._records.values())
            if count >= MAX_NODES_PER_PEER:
                raise AdvertError(
                    "identity",
                    f"peer {advert.peer_id} already advertises {count} nodes",
                    "node_id",
                )
            return
        held = record.advert
        if held.peer_id != advert.peer_id:
            if self._fresh(record, now) and record.connected:
                raise AdvertError(
                    "identity",
                    f"node id {advert.node_id!r} is held by peer {held.peer_id}",
                    "node_id",
                )
            return
        if not self._fresh(record, now):
            return  # an expired entry is replaced whatever its sequence (clocks step back)
        if advert.sequence < held.sequence or (
            advert.sequence == held.sequence and advert.timestamp < held.timestamp
        ):
            raise AdvertError(
                "stale",
                f"sequence {advert.sequence} is older than the {held.sequence} already held",
                "sequence",
            )

    def restore(self, advert: Advert, received_at: float) -> bool:
        """Reload an advert received at ``received_at`` by an earlier process (the service
        cache, FR-010): listed, but unavailable until the node advertises again. Returns
        false when the node is already known (a live advert wins)."""
        if advert.node_id in self._records:
            return False
        self._records[advert.node_id] = _Record(advert, received_at, connected=False)
        return True

    def ttl(self, advert: Advert) -> float:
        """The TTL an entry gets: the advert's, at most ``[network] advert_ttl_s``."""
        return min(advert.ttl_s, self.network.advert_ttl_s)

    def _fresh(self, record: _Record, now: float) -> bool:
        return now - record.received_at <= self.ttl(record.advert)

    def disconnected(self, peer_id: str) -> None:
        """The transport lost the peer: its nodes are unavailable until they re-advertise."""
        for record in self._records.values():
            if record.advert.peer_id == peer_id:
                record.connected = False

    # -- quality ---------------------------------------------------------------------------

    def report_fidelity(
        self, node_id: str, fidelity: float, source: str = "report", at: float | None = None
    ) -> None:
        """A fidelity report from (or about) ``node_id`` made at ``at`` (default: now, and
        never later than now); unknown nodes are ignored."""
        record = self._records.get(node_id)
        if record is None:
            return
        now = self.clock()
        record.reported_fidelity, record.reported_at = fidelity, min(now, at or now)
        self._sample(node_id, "fidelity", fidelity, True, source)

    def record_call(self, node_id: str, rtt_ms: float, ok: bool) -> None:
        """A call the coordinator made to ``node_id``: its round trip and whether it worked."""
        record = self._records.get(node_id)
        if record is None:
            return
        record.calls.append((rtt_ms, ok))
        while len(record.calls) > self.quality.window:
            record.calls.popleft()
        self._sample(node_id, "rtt_ms", rtt_ms, ok, "coordinator")

    def _sample(self, node_id: str, metric: str, value: float, ok: bool, source: str) -> None:
        if self.on_quality is not None:
            at = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
            self.on_quality(QualityReport(node_id, "node", metric, value, at, source, ok))

    def _degraded(self, record: _Record, now: float) -> tuple[str, ...]:
        q = self.quality
        reasons = []
        fidelity = record.advert.fidelity
        report_fresh = now - record.reported_at <= record.advert.ttl_s
        if record.reported_fidelity is not None and report_fresh:
            fidelity = min(fidelity, record.reported_fidelity)
        if fidelity < q.min_node_fidelity:
            reasons.append(f"fidelity {fidelity:.4g} < {q.min_node_fidelity:g}")
        if record.calls:
            failed = sum(not ok for _rtt, ok in record.calls) / len(record.calls)
            if failed > q.max_link_failure_rate:
                reasons.append(f"{failed:.0%} of recent calls failed")
            rtts = [rtt for rtt, ok in record.calls if ok]
            if rtts and statistics.median(rtts) > q.max_rtt_ms:
                reasons.append(f"median round trip {statistics.median(rtts):.1f} ms")
        return tuple(reasons)

    # -- views ------------------------------------------------------------------------------

    def entries(self) -> list[NodeEntry]:
        """Every known node, by id."""
        now = self.clock()
        for node_id, r in list(self._records.items()):
            silent = now - r.received_at
            if not r.connected and silent > FORGET_AFTER_TTLS * self.ttl(r.advert):
                del self._records[node_id]
        out = []
        for node_id in sorted(self._records):
            r = self._records[node_id]
            available = r.connected and self._fresh(r, now) and r.advert.availability == "available"
            reasons = self._degraded(r, now)
            out.append(NodeEntry(r.advert, r.received_at, available, bool(reasons), reasons))
        return out

    def peer_of(self, node_id: str) -> str | None:
        """The peer id ``node_id`` is reached at, if known."""
        r = self._records.get(node_id)
        return None if r is None else r.advert.peer_id

    def is_available(self, node_id: str) -> bool:
        """Whether ``node_id`` is available now (cheaper than :meth:`entry`)."""
        r = self._records.get(node_id)
        return (
            r is not None
            and r.connected
            and self._fresh(r, self.clock())
            and r.advert.availability == "available"
        )

    def entry(self, node_id: str) -> NodeEntry | None:
        """The entry of ``node_id``, if known."""
        return next((e for e in self.entries() if e.node_id == node_id), None)

    def query(
        self,
        *,
        gate: str | None = None,
        min_fidelity: float = 0.0,
        available: bool | None = True,
        service_type: str | None = None,
        min_qubits: int = 0,
        include_degraded: bool = False,
    ) -> list[NodeEntry]:
        """Nodes offering ``gate`` at ``min_fidelity`` (headline fidelity without a gate),
        of ``service_type``, with room for ``min_qubits``, in the ``available`` state
        (``None``: either), degraded ones only if asked (FR-002)."""
        out = []
        for e in self.entries():
            a = e.advert
            fid = a.services[gate].fidelity if gate and gate in a.services else None
            if gate is not None and fid is None:
                continue
            if (fid if fid is not None else a.fidelity) < min_fidelity:
                continue
            if available is not None and e.available != available:
                continue
            if service_type is not None and a.service_type != service_type:
                continue
            if a.qubit_range[1] < min_qubits or (e.degraded and not include_degraded):
                continue
            out.append(e)
        return out

    def snapshot(self) -> Topology:
        """The latest view as a topology: every known node (unavailable and degraded ones
        marked) and every link either end reports (the worse fidelity and latency)."""
        entries = self.entries()
        nodes: list[NodeSpec] = [
            e.advert.node_spec(available=e.available, degraded=e.degraded) for e in entries
        ]
        known = {e.node_id for e in entries}
        links: dict[tuple[str, str], LinkSpec] = {}
        for e in entries:
            for lk in e.advert.links:
                if lk.node_id not in known or lk.node_id == e.node_id:
                    continue
                a, b = sorted((e.node_id, lk.node_id))
                old = links.get((a, b))
                fid = lk.fidelity if old is None else min(old.fidelity, lk.fidelity)
                lat = lk.latency_ms if old is None else max(old.latency_ms, lk.latency_ms)
                links[(a, b)] = LinkSpec(a, b, fid, lat, fid < self.quality.min_link_fidelity)
        return Topology(nodes, list(links.values()))
