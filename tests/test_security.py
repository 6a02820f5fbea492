"""The API's front door in isolation (FR-014): which role a route needs, the token bucket
behind the rate limit, and the key book's cache of store look-ups."""

from __future__ import annotations

import pytest
import trio

from qorch.coordinator.security import DRAIN_BYTES, KeyBook, TokenBucket, drain_body, needed_role
from qorch.keys import allows, hash_key


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/api/v1/jobs", "read"),
        ("HEAD", "/", "read"),
        ("WEBSOCKET", "/api/v1/events", "read"),
        ("POST", "/api/v1/circuits/submit", "submit"),
        ("POST", "/api/v1/jobs/job-1/cancel", "submit"),
        ("POST", "/api/v1/jobs/job-1", "admin"),
        ("DELETE", "/api/v1/jobs/job-1", "admin"),
    ],
)
def test_each_route_needs_the_role_that_matches_what_it_does(method, path, role):
    assert needed_role(method, path) == role


def test_admin_may_do_anything_and_other_roles_only_themselves():
    assert allows(("admin",), "submit") and allows(("admin",), "read")
    assert allows(("submit",), "submit") and not allows(("submit",), "read")
    assert not allows(("read",), "submit") and not allows((), "read")


def test_the_bucket_admits_its_burst_then_one_request_per_refill_interval():
    now = [0.0]
    bucket = TokenBucket(per_minute=60, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(1.0)]
    now[0] = 0.5
    assert bucket.take() == pytest.approx(0.5)  # half a token back: half a second to wait
    now[0] = 1.0
    assert bucket.take() == 0.0
    now[0] = 1000.0  # refills never exceed the burst
    assert [bucket.take() for _ in range(4)].count(0.0) == 3


class CountingStore:
    def __init__(self, records):
        self.records = records
        self.lookups = 0

    def get_api_key(self, key_hash):
        self.lookups += 1
        return self.records.get(key_hash)


def test_the_key_book_asks_the_store_once_per_key_until_its_cache_expires():
    record = object()
    store = CountingStore({hash_key("qk_good"): record})
    now = [0.0]
    book = KeyBook(store, clock=lambda: now[0])

    async def main():
        assert await book.find("qk_good") is record
        assert await book.find("qk_good") is record
        assert await book.find("qk_bad") is None
        assert await book.find("qk_bad") is None
        assert store.lookups == 2
        now[0] = 60.0  # a revoked key stops working once the cache expires
        del store.records[hash_key("qk_good")]
        assert await book.find("qk_good") is None

    trio.run(main)


def test_a_send_that_meets_a_closing_connection_closes_it_instead_of_raising():
    """The guard against hypercorn 0.18's close race (qorch.coordinator.server)."""
    from hypercorn.events import Closed, RawData
    from hypercorn.trio import tcp_server

    from qorch.coordinator.server import guard_hypercorn_close_race

    guard_hypercorn_close_race()
    guard_hypercorn_close_race()  # idempotent: one wrapper
    handled = []

    class Busy:
        async def send_all(self, data):
            raise trio.BusyResourceError("another task is currently sending data")

    class Protocol:
        async def handle(self, event):
            handled.append(event)

    server = tcp_server.TCPServer.__new__(tcp_server.TCPServer)
    server.stream, server.protocol, server.send_lock = Busy(), Protocol(), trio.Lock()
    trio.run(server.protocol_send, RawData(b"x"))
    assert [type(e) for e in handled] == [Closed]


def _body_of(chunks: int | None, size: int = 1 << 20) -> tuple[list[int], object]:
    """An ASGI ``receive`` giving ``chunks`` chunks of ``size`` bytes (None: endless), and
    the list of how many it gave; asking past the end fails the test."""
    given = [0]

    async def receive() -> dict:
        assert chunks is None or given[0] < chunks, "read past the end of the body"
        given[0] += 1
        more = chunks is None or given[0] < chunks
        return {"type": "http.request", "body": b"x" * size, "more_body": more}

    return given, receive


def test_a_refused_body_is_read_to_its_end_so_the_client_gets_the_413():
    """Issue 18 item 8 (FR-014): the rest of a 5 MiB body is read, not a chunk more."""
    given, receive = _body_of(5)
    trio.run(drain_body, receive, 0)
    assert given == [5]


def test_draining_an_endless_body_stops_at_the_bound():
    given, receive = _body_of(None)
    trio.run(drain_body, receive, 0)
    assert given[0] == DRAIN_BYTES // (1 << 20) + 1  # the first chunk past the bound


def test_draining_stops_when_the_client_leaves():
    asked = [0]

    async def receive() -> dict:
        asked[0] += 1
        return {"type": "http.disconnect"}

    trio.run(drain_body, receive, 0)
    assert asked == [1]  # nothing more to read: not asked again
