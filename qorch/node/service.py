"""A service node's request handling (FR-005, DESIGN §6): reservations and the executor.

:class:`NodeService` is the :data:`~qorch.transport.Handler` of a node, the same under
every transport: ``status``, ``subscribe``, ``reserve``, ``cancel`` and ``execute``
(bodies in :mod:`qorch.node.protocol`).

The executor checks the reservation (known, granted or already used by this very
attempt, inside its window, for the fidelity asked), accounts the simulated duration
of the operations through the node type — sleeping ``time_scale`` × that duration —
and returns an execution record. It is idempotent per ``(job, fragment, attempt)``: a
repeat returns the stored record and never runs twice — one that arrives while the
attempt is still running waits for it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import attrs
import trio
from loguru import logger

from qorch.faults import NodeFaults
from qorch.interfaces import NodeType
from qorch.node import protocol
from qorch.node.advert import Advert, Availability, LinkQuality, advert_for
from qorch.node.choreography import Choreography
from qorch.node.reservations import JOB_WIDE, Rejection, Reservation, ReservationBook
from qorch.topology import NodeSpec

MAX_KNOWN = 256
#: execution records kept for idempotent repeats (the oldest are dropped first)
MAX_RECORDS = 100_000
#: reservations may start at most this far ahead of the node's clock, in seconds
HORIZON_S = 3600.0
#: active reservations one node holds at most (keeps a reserve call cheap)
MAX_ACTIVE = 1000
#: replies a scheduled latency spike holds back (the coordinator's calls and its peers')
DELAYED_VERBS = frozenset(
    {"status", "reserve", "cancel", "execute", "handout", "notice", "ebit", "bits", "progress"}
)


def degraded(spec: NodeSpec, scale: float) -> NodeSpec:
    """``spec`` with every gate fidelity scaled by ``scale`` (a degradation), and the
    scale recorded so the world simulator does not apply it twice."""
    if scale == 1.0:
        return spec
    gates = {
        n: attrs.evolve(g, fidelity=max(g.fidelity * scale, 1e-6)) for n, g in spec.gates.items()
    }
    return attrs.evolve(spec, gates=gates, fidelity_scale=spec.fidelity_scale * scale)


def reservation_dict(r: Reservation) -> dict[str, Any]:
    """A reservation as it travels."""
    return {
        "reservation_id": r.reservation_id,
        "operation": r.operation,
        "qubits": r.qubits,
        "start": r.start,
        "end": r.end,
        "min_fidelity": r.min_fidelity,
        "state": r.state,
        "correlation": protocol.correlation_dict(r.correlation),
    }


class NodeService:
    """One node's handler and state (see the module docstring)."""

    def __init__(
        self,
        spec: NodeSpec,
        node_type: NodeType,
        *,
        seed: int = 0,
        time_scale: float = 0.0,
        grace_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        faults: NodeFaults | None = None,
    ) -> None:
        self.spec = spec
        self.node_type = node_type
        self.rng = random.Random(seed)
        self.time_scale = time_scale
        self.clock = clock
        self.book = ReservationBook(spec.qubits, grace=grace_s)
        self.records: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.executions = 0  # fragments actually run (FR-010: a repeat is not run again)
        self.repeats = 0  # repeats answered from the stored record
        self._running: dict[tuple[str, str, int], trio.Event] = {}  # attempts executing now
        self.subscribers: set[str] = set()
        self.known: list[str] = []  # addresses this node joined through, told to subscribers
        self.links: tuple[LinkQuality, ...] = ()
        self.degraded_by = 1.0  # set by degrade()
        #: an injected fault schedule's latency spikes and degradations (FR-013)
        self.faults = faults
        self.availability: Availability = "available"
        self.changed = trio.Event()  # set when the advert's content changes
        #: the choreography verbs (issue 17), once the node runs one (``serving.py``)
        self.choreography: Choreography | None = None

    # -- the advert ---------------------------------------------------------------------------

    def offered(self) -> NodeSpec:
        """The spec as currently delivered (gate fidelities scaled by any degradation)."""
        return degraded(self.spec, self.fidelity_scale)

    def advert(
        self, peer_id: str, addresses: tuple[str, ...], sequence: int, ttl_s: float
    ) -> Advert:
        """This node's advert now."""
        return advert_for(
            self.offered(),
            peer_id=peer_id,
            timestamp=self.clock(),
            sequence=sequence,
            ttl_s=ttl_s,
            addresses=addresses,
            links=self.links,
            availability=self.availability,
        )

    @property
    def fidelity_scale(self) -> float:
        """The factor on every gate fidelity now: :meth:`degrade`'s times any scheduled
        degradation's (which adverts carry only from their next refresh)."""
        scheduled = self.faults.fidelity_scale(self.clock()) if self.faults else 1.0
        return self.degraded_by * scheduled

    def degrade(self, fidelity_scale: float) -> None:
        """Scale every gate fidelity (or recover with 1.0); re-advertised at once."""
        self.degraded_by = fidelity_scale
        self.changed.set()

    # -- requests -----------------------------------------------------------------------------

    async def __call__(self, verb: str, body: dict[str, Any], sender: str) -> dict[str, Any]:
        """Answer one request (never raises for a bad body)."""
        if self.faults is not None and verb in DELAYED_VERBS:
            delay = self.faults.delay_s(self.clock())
            sender_node = body.get("from") if verb in protocol.PEER_VERBS else None
            if isinstance(sender_node, str):  # a message over the link from that node
                delay += self.faults.link_delay_s(self.clock(), sender_node)
            if delay > 0:  # a scheduled latency spike (FR-013)
                await trio.sleep(delay)
        try:
            if verb == "status":
                return self.status()
            if verb == "subscribe":
                if body.get("adverts", True) is not False:
                    self.subscribers.add(sender)
                    self.changed.set()
                self._learn(body.get("addresses"))
                return {
                    "ok": True,
                    "role": "node",
                    "node": self.spec.name,
                    "peers": list(self.known),
                }
            if verb == "reserve":
                return self.reserve(protocol.reserve_request(body))
            if verb == "cancel":
                return self.cancel(protocol.cancel_request(body))
            if verb == "execute":
                return await self.execute(protocol.execute_request(body))
            if verb in protocol.CHOREOGRAPHY_VERBS and self.choreography is not None:
                return await self.choreography.serve(verb, body)
        except protocol.BadRequest as exc:
            return protocol.bad_request(exc)
        return protocol.error("bad_request", f"this node does not serve {verb!r}", where="verb")

    def forget(self, peer_id: str) -> None:
        """A peer disconnected: stop advertising to it."""
        self.subscribers.discard(peer_id)

    def _learn(self, addresses: Any) -> None:
        """Keep a subscriber's own addresses (a few) to tell later subscribers about."""
        if not isinstance(addresses, list) or not addresses or not isinstance(addresses[0], str):
            return
        if addresses[0] not in self.known and len(self.known) < MAX_KNOWN:
            self.known.append(addresses[0][:512])

    def status(self) -> dict[str, Any]:
        """Name, capacity, load now, reservation counts, and the addresses of the peers
        this node knows (for continuous discovery)."""
        now = self.clock()
        self.book.release_expired(now)
        return {
            "ok": True,
            "node": self.spec.name,
            "qubits": self.spec.qubits,
            "load": self.book.load(now),
            "active_reservations": len(self.book.active()),
            "executed": len(self.records),
            "executions": self.executions,
            "repeats": self.repeats,
            "fidelity_scale": self.fidelity_scale,
            "protocol": protocol.PROTOCOL_VERSION,
            "peers": list(self.known),  # continuous discovery (issue 17)
        }

    def _offered_fidelity(self, operation: str) -> float:
        spec = self.offered()
        gate = spec.gates.get(operation)
        if gate is not None:
            return gate.fidelity
        # a fragment: the worst gate it may use stands for it
        return min((g.fidelity for g in spec.gates.values()), default=0.0)

    def reserve(self, req: dict[str, Any]) -> dict[str, Any]:
        """Grant a window or reject it with the next free one (FR-005).

        The window must end after now and start within :data:`HORIZON_S`; a node holds
        at most :data:`MAX_ACTIVE` reservations at once. A job-wide window asked again by
        the same job for the same qubits and end (its first answer was lost) is the one
        it holds.
        """
        now = self.clock()
        self.book.release_expired(now)
        corr = protocol.correlation_dict(req["correlation"])
        problem = None
        if req["start"] + req["duration"] <= now:
            problem = "the window has already ended on this node's clock"
        elif req["start"] > now + HORIZON_S:
            problem = f"the window starts more than {HORIZON_S:g} s from now"
        elif len(self.book.active()) >= MAX_ACTIVE:
            problem = f"this node already holds {MAX_ACTIVE} reservations"
        if problem is not None:
            return {**protocol.error("invalid", problem), "correlation": corr}
        c = req["correlation"]
        if req["operation"] == JOB_WIDE:
            for held in self.book.active():  # the same job asking again (a lost reply)
                if (
                    held.operation == JOB_WIDE
                    and held.correlation.job_id == c.job_id
                    and held.qubits == req["qubits"]
                    and abs(held.end - (req["start"] + req["duration"])) < 1e-6
                ):
                    return {"ok": True, "reservation": reservation_dict(held), "correlation": corr}
        result = self.book.request(
            operation=req["operation"],
            qubits=req["qubits"],
            start=req["start"],
            duration=req["duration"],
            min_fidelity=req["min_fidelity"],
            fidelity=self._offered_fidelity(req["operation"]),
            correlation=req["correlation"],
        )
        if isinstance(result, Rejection):
            window = None
            if result.next_start is not None:
                window = {"start": result.next_start, "end": result.next_end}
            reply = protocol.error(result.reason, result.message, next_window=window)
            return {**reply, "correlation": corr}
        return {"ok": True, "reservation": reservation_dict(result), "correlation": corr}

    def cancel(self, req: dict[str, Any]) -> dict[str, Any]:
        """Release a granted reservation."""
        c = req["correlation"]
        corr = protocol.correlation_dict(c)
        held = self.book.get(req["reservation_id"])
        mine = held is not None and (held.correlation.job_id, held.correlation.fragment_id) == (
            c.job_id,
            c.fragment_id,
        )
        r = self.book.cancel(req["reservation_id"]) if mine else None
        if r is not None and self.choreography is not None:
            self.choreography.abort(r.reservation_id)
        if r is None:
            reply = protocol.error("not_found", "no granted reservation with that id")
            return {**reply, "correlation": corr}
        return {"ok": True, "reservation": reservation_dict(r), "correlation": corr}

    async def execute(self, req: dict[str, Any]) -> dict[str, Any]:
        """Run a fragment under its reservation; idempotent per (job, fragment, attempt)."""
        c = req["correlation"]
        key = (c.job_id, c.fragment_id, c.attempt)
        corr = protocol.correlation_dict(c)
        running = self._running.get(key)
        if running is not None:  # the same attempt again while it runs: wait for it
            await running.wait()
        if key in self.records:
            stored = self.records[key]
            held = self.book.get(req["reservation_id"])
            same_job = held is not None and held.correlation.job_id == c.job_id
            if stored["reservation_id"] != req["reservation_id"] and not same_job:
                # another window of the same job may ask (a restarted coordinator whose
                # job had given its first window back): anyone else may not
                reply = protocol.error(
                    "no_reservation",
                    f"attempt {c.attempt} already ran under {stored['reservation_id']}",
                )
                return {**reply, "correlation": corr}
            self.repeats += 1
            return {"ok": True, "record": stored, "repeat": True, "correlation": corr}
        now = self.clock()
        self.book.release_expired(now)
        r = self.book.get(req["reservation_id"])
        owner = (r.correlation.job_id, r.correlation.fragment_id) if r is not None else None
        if r is not None and (
            r.correlation.job_id != c.job_id or (not r.job_wide and owner != key[:2])
        ):
            reply = protocol.error("no_reservation", "the reservation belongs to another fragment")
            return {**reply, "correlation": corr}
        used = self.book.use(req["reservation_id"], now)
        if isinstance(used, str):
            return {**protocol.error("no_reservation", used), "correlation": corr}
        outcome = self.node_type.run(self.spec, req["ops"], self.rng, self.fidelity_scale)
        self.executions += 1
        self._running[key] = done = trio.Event()
        try:
            if self.time_scale > 0:
                await trio.sleep(self.time_scale * outcome.duration_ns / 1e9)
            record = {
                "node": self.spec.name,
                "job_id": c.job_id,
                "fragment_id": c.fragment_id,
                "attempt": c.attempt,
                "reservation_id": used.reservation_id,
                "started_at": now,
                "ended_at": self.clock(),
                "duration_ns": outcome.duration_ns,
                "fidelity": outcome.fidelity,
                "fidelity_scale": self.fidelity_scale,
                "status": "failed" if outcome.error else "ok",
                "error": outcome.error,
                "ops": len(req["ops"]),
            }
            self.records[key] = record
        finally:
            del self._running[key]
            done.set()
        while len(self.records) > MAX_RECORDS:  # the oldest go first (dicts keep order)
            del self.records[next(iter(self.records))]
        if outcome.error:
            logger.info("{}: fragment {} failed: {}", self.spec.name, c.fragment_id, outcome.error)
        return {"ok": True, "record": record, "repeat": False, "correlation": corr}
