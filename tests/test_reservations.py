"""The reservation book (FR-005): unit cases and a hypothesis state machine."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from qorch.node.reservations import Correlation, Rejection, Reservation, ReservationBook

CORR = Correlation("job", "f0", 1, "req")


def ask(book, qubits, start, duration, min_fidelity=0.0, fidelity=0.99):
    return book.request(
        operation="execute",
        qubits=qubits,
        start=start,
        duration=duration,
        min_fidelity=min_fidelity,
        fidelity=fidelity,
        correlation=CORR,
    )


def test_grant_conflict_and_next_window():
    book = ReservationBook(capacity=4)
    a = ask(book, 3, 0.0, 10.0)
    assert isinstance(a, Reservation) and a.correlation == CORR
    b = ask(book, 2, 5.0, 2.0)
    assert isinstance(b, Rejection) and b.reason == "conflict"
    assert (b.next_start, b.next_end) == (10.0, 12.0)
    assert isinstance(ask(book, 2, b.next_start, 2.0), Reservation)
    assert isinstance(ask(book, 1, 5.0, 2.0), Reservation)  # 3 + 1 fits


def test_rejections_without_a_window():
    book = ReservationBook(capacity=2)
    assert ask(book, 3, 0, 1).reason == "capacity"
    fid = ask(book, 1, 0, 1, min_fidelity=0.999, fidelity=0.99)
    assert fid.reason == "fidelity" and fid.next_start is None
    assert ask(book, 0, 0, 1).reason == "invalid"
    assert ask(book, 1, 0, -1).reason == "invalid"


def test_use_cancel_and_expiry():
    book = ReservationBook(capacity=1, grace=2.0)
    r = ask(book, 1, 10.0, 5.0)
    assert book.use(r.reservation_id, 9.0).startswith("outside")
    assert book.use(r.reservation_id, 10.0).state == "USED"
    assert book.use(r.reservation_id, 11.0) == "reservation is used"  # once only
    assert book.cancel(r.reservation_id) is None  # in use: it cannot be cancelled
    assert [x.reservation_id for x in book.release_expired(15.0)] == [r.reservation_id]
    unused = ask(book, 1, 20.0, 1.0)
    assert book.release_expired(22.5) == []  # within the grace period
    released = book.release_expired(23.0)
    assert [x.state for x in released] == ["EXPIRED"]
    assert book.use(unused.reservation_id, 20.5) == "reservation is expired"
    c = ask(book, 1, 30.0, 1.0)
    assert book.cancel(c.reservation_id).state == "CANCELLED"
    assert book.cancel(c.reservation_id) is None
    assert book.use("nope", 0) == "unknown reservation"


class BookMachine(RuleBasedStateMachine):
    """Random requests, uses, cancels and clock ticks against the invariants."""

    def __init__(self) -> None:
        super().__init__()
        self.capacity = 3
        self.book = ReservationBook(self.capacity, grace=1.0)
        self.now = 0.0
        self.granted: list[str] = []

    @rule(qubits=st.integers(1, 4), offset=st.integers(0, 20), duration=st.integers(1, 8))
    def request(self, qubits, offset, duration):
        start = self.now + offset
        result = ask(self.book, qubits, start, duration)
        if isinstance(result, Reservation):
            self.granted.append(result.reservation_id)
            return
        if result.reason == "capacity":
            assert qubits > self.capacity and result.next_start is None
            return
        assert result.reason == "conflict" and result.next_start >= start
        # the offered window is grantable right away
        again = ask(self.book, qubits, result.next_start, duration)
        assert isinstance(again, Reservation), again
        self.granted.append(again.reservation_id)

    @precondition(lambda self: self.granted)
    @rule(data=st.data())
    def cancel(self, data):
        self.book.cancel(data.draw(st.sampled_from(self.granted)))

    @precondition(lambda self: self.granted)
    @rule(data=st.data())
    def use(self, data):
        rid = data.draw(st.sampled_from(self.granted))
        r = self.book.get(rid)
        if r is not None and r.state == "GRANTED" and r.start >= self.now:
            self.now = r.start
            assert self.book.use(rid, self.now).state == "USED"

    @rule(dt=st.integers(1, 10))
    def tick(self, dt):
        self.now += dt
        self.book.release_expired(self.now)

    @invariant()
    def never_over_capacity(self):
        points = {r.start for r in self.book.active()} | {self.now}
        for t in points:
            assert self.book.load(t) <= self.capacity

    def teardown(self):
        # every grant is released by expiry, use-and-end or cancel once time passes
        later = max((r.end for r in self.book.active()), default=self.now) + 2.0
        self.book.release_expired(later)
        assert self.book.active() == []


BookMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestReservationBook = BookMachine.TestCase


def test_a_job_wide_reservation_serves_many_executes_until_cancelled():
    book = ReservationBook(capacity=2)
    r = book.request(
        operation="job", qubits=2, start=0.0, duration=60.0, min_fidelity=0.0, fidelity=1.0,
        correlation=CORR,
    )  # fmt: skip
    assert r.job_wide
    assert book.use(r.reservation_id, 1.0).state == "USED"
    assert book.use(r.reservation_id, 2.0).state == "USED"  # another fragment of the job
    assert book.use(r.reservation_id, 61.0).startswith("outside")
    assert book.cancel(r.reservation_id).state == "CANCELLED"  # the job is over
    assert book.load(3.0) == 0
