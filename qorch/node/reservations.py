"""A node's reservation book (FR-005): execution windows over its qubit capacity.

A reservation asks for ``qubits`` of the node's capacity over the window
``[start, start + duration)`` (seconds on the node's clock), for one operation, at a
fidelity the node must meet, with correlation ids. It is granted if, at every instant of
the window, the qubits held by overlapping active reservations plus the request fit the
capacity; otherwise it is rejected with the earliest window of the same length, at or
after the requested start, that is actually free (or no window, if it can never fit).

A reservation is for one fragment (any ``operation`` name) or, with operation ``job``,
for every fragment of one job on this node — the coordinator holds a job's qubits on
each node it uses, and releases them when the job ends. A granted reservation is
*active* until it is used (an execute call inside its window marks it ``USED`` and its
qubits stay held until its window ends or, job-wide, until it is cancelled), cancelled,
or expires:
an unused reservation expires ``grace`` seconds after its window ends, and a used one is
released when its window ends. :meth:`ReservationBook.release_expired` applies the clock.
"""

from __future__ import annotations

import itertools
import secrets
from typing import Literal

import attrs

State = Literal["GRANTED", "USED", "CANCELLED", "EXPIRED"]
#: the operation of a reservation that holds qubits for every fragment of one job
JOB_WIDE = "job"


@attrs.frozen
class Correlation:
    """Ids that tie a reservation to a job, a fragment attempt and one request."""

    job_id: str
    fragment_id: str
    attempt: int
    request_id: str


@attrs.frozen
class Reservation:
    """A granted window of ``qubits`` on this node."""

    reservation_id: str
    operation: str
    qubits: int
    start: float
    end: float
    min_fidelity: float
    correlation: Correlation
    state: State = "GRANTED"

    @property
    def active(self) -> bool:
        """Holding capacity (granted or in use)."""
        return self.state in ("GRANTED", "USED")

    @property
    def job_wide(self) -> bool:
        """Serves every fragment of its job on this node (operation ``job``)."""
        return self.operation == JOB_WIDE


@attrs.frozen
class Rejection:
    """Why a request was refused, and the next free window if there is one."""

    reason: str
    message: str
    next_start: float | None = None
    next_end: float | None = None


class ReservationBook:
    """Reservations of one node (see the module docstring)."""

    def __init__(self, capacity: int, grace: float = 5.0, max_duration: float = 3600.0) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.grace = grace
        self.max_duration = max_duration
        self._items: dict[str, Reservation] = {}
        self._ids = itertools.count(1)

    # -- queries -------------------------------------------------------------------------

    def get(self, reservation_id: str) -> Reservation | None:
        """The reservation with this id, in any state."""
        return self._items.get(reservation_id)

    def active(self) -> list[Reservation]:
        """Reservations holding capacity, by start."""
        return sorted(
            (r for r in self._items.values() if r.active), key=lambda r: (r.start, r.reservation_id)
        )

    def load(self, t: float) -> int:
        """Qubits held at instant ``t``."""
        return sum(r.qubits for r in self._items.values() if r.active and r.start <= t < r.end)

    def _fits(self, qubits: int, start: float, end: float) -> bool:
        # the load is piecewise constant; it can only rise at a reservation start
        points = [start] + [
            r.start for r in self._items.values() if r.active and start < r.start < end
        ]
        return all(self.load(t) + qubits <= self.capacity for t in points)

    def next_window(self, qubits: int, start: float, duration: float) -> float | None:
        """Earliest start >= ``start`` at which ``qubits`` fit for ``duration``."""
        if qubits > self.capacity:
            return None
        candidates = sorted(
            {start} | {r.end for r in self._items.values() if r.active and r.end > start}
        )
        for s in candidates:
            if self._fits(qubits, s, s + duration):
                return s
        return None  # pragma: no cover - the last end always fits

    # -- changes ----------------------------------------------------------------------------

    def request(
        self,
        *,
        operation: str,
        qubits: int,
        start: float,
        duration: float,
        min_fidelity: float,
        fidelity: float,
        correlation: Correlation,
    ) -> Reservation | Rejection:
        """Grant the window or say why not (``fidelity`` is what this node offers)."""
        if qubits < 1 or duration <= 0 or duration > self.max_duration:
            return Rejection(
                "invalid",
                f"need qubits >= 1 and 0 < duration <= "
                f"{self.max_duration:g} s, got {qubits} qubits for {duration:g} s",
            )
        if fidelity < min_fidelity:
            return Rejection(
                "fidelity",
                f"{operation} runs at fidelity {fidelity:.4g} here, "
                f"below the required {min_fidelity:.4g}",
            )
        if qubits > self.capacity:
            return Rejection("capacity", f"{qubits} qubits requested, capacity is {self.capacity}")
        if not self._fits(qubits, start, start + duration):
            nxt = self.next_window(qubits, start, duration)
            return Rejection(
                "conflict",
                "the window overlaps reservations that hold the capacity",
                nxt,
                None if nxt is None else nxt + duration,
            )
        rid = f"r{next(self._ids)}-{secrets.token_hex(6)}"  # not guessable, unique across runs
        reservation = Reservation(
            rid, operation, qubits, start, start + duration, min_fidelity, correlation
        )
        self._items[rid] = reservation
        return reservation

    def cancel(self, reservation_id: str) -> Reservation | None:
        """Release a granted reservation — a used one too if it is job-wide (the job is
        over); ``None`` if unknown, a used fragment reservation, or already released."""
        r = self._items.get(reservation_id)
        if r is None or not (r.state == "GRANTED" or (r.state == "USED" and r.job_wide)):
            return None
        self._items[reservation_id] = attrs.evolve(r, state="CANCELLED")
        return self._items[reservation_id]

    def use(self, reservation_id: str, now: float) -> Reservation | str:
        """Mark the reservation used by an execute call at ``now``; an error string if not.

        A fragment reservation is used once: the executor answers a repeated execute of
        the same attempt from its records, and any other execute needs a reservation of its
        own. A job-wide one (operation ``job``) serves every execute of its job inside
        its window.
        """
        r = self._items.get(reservation_id)
        if r is None:
            return "unknown reservation"
        if r.state != "GRANTED" and not (r.state == "USED" and r.job_wide):
            return f"reservation is {r.state.lower()}"
        if not r.start <= now < r.end:
            return f"outside the reserved window [{r.start:g}, {r.end:g})"
        self._items[reservation_id] = attrs.evolve(r, state="USED")
        return self._items[reservation_id]

    def release_expired(self, now: float) -> list[Reservation]:
        """Apply the clock: unused grants past ``end + grace`` expire; used ones past ``end``
        are done. Returns the reservations released now."""
        released = []
        for rid, r in list(self._items.items()):
            if r.state == "GRANTED" and now >= r.end + self.grace:
                self._items[rid] = attrs.evolve(r, state="EXPIRED")
                released.append(self._items[rid])
            elif r.state == "USED" and now >= r.end:
                del self._items[rid]
                released.append(r)
        return released
