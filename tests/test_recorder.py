"""Persisting what the coordinator observes, and the service cache (FR-008, FR-010)."""

from __future__ import annotations

import datetime as dt

import trio

from qorch.config import NetworkSettings, QualitySettings
from qorch.coordinator.node_registry import FORGET_AFTER_TTLS, NodeRegistry
from qorch.coordinator.recorder import Recorder, restore_adverts
from qorch.model import QualityReport
from qorch.testing.memory_store import MemoryStore
from tests.test_adverts import T0, A, B, C, Clock, advert


def fresh_store() -> MemoryStore:
    store = MemoryStore()
    store.open()
    store.upgrade()
    return store


def at(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


def test_observations_are_written_in_batches_and_flushed_at_shutdown():
    store = fresh_store()
    recorder = Recorder(store)
    clock = Clock()
    registry = NodeRegistry(
        NetworkSettings(), QualitySettings(), clock=clock,
        on_quality=recorder.quality, on_advert=recorder.advert,
    )  # fmt: skip

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(recorder.run)
            registry.offer(advert(A).encode(), "peer-a")
            registry.record_call("a", 1.5, True)
            recorder.metric("job_wall_ms", 12.0, job_id="j1")
            with trio.fail_after(5):
                while recorder.written < 4:  # advert, its fidelity sample, the call, metric
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        recorder.quality(QualityReport("a", "node", "rtt_ms", 2.0, at(T0), "coordinator"))
        await recorder.flush()  # queued after the writer stopped: flush writes it

    trio.run(main)
    (stored,) = store.list_adverts()
    assert stored.node_id == "a" and stored.received_at == at(T0)
    assert stored.expires_at == at(T0 + 10.0) and stored.advert["peer_id"] == "peer-a"
    rtts = [r.value for r in store.list_quality_reports("a") if r.metric == "rtt_ms"]
    assert sorted(rtts) == [1.5, 2.0]
    (metric,) = store.list_metrics("job_wall_ms")
    assert metric.value == 12.0 and metric.labels == {"job_id": "j1"}


def test_a_full_queue_drops_and_counts_instead_of_blocking(monkeypatch):
    monkeypatch.setattr("qorch.coordinator.recorder.QUEUE_LIMIT", 2)
    recorder = Recorder(fresh_store())
    for i in range(5):
        recorder.metric("m", float(i))
    assert recorder.dropped == 3
    trio.run(recorder.flush)
    assert sorted(m.value for m in recorder.store.list_metrics("m")) == [0.0, 1.0]


def test_restored_adverts_are_listed_unavailable_until_their_nodes_advertise_again():
    store = fresh_store()
    recorder = Recorder(store)
    old = Clock()
    first = NodeRegistry(NetworkSettings(), QualitySettings(), clock=old, on_advert=recorder.advert)
    first.offer(advert(A).encode(), "peer-a")
    old.now = T0 + 3
    first.offer(advert(B, at=T0 + 3).encode(), "peer-b")
    old.now = T0 - FORGET_AFTER_TTLS * 10.0 - 5  # long forgotten by the time of restart
    first.offer(advert(C, at=old.now).encode(), "peer-c")
    trio.run(recorder.flush)

    clock = Clock()
    clock.now = T0 + 60  # the coordinator restarts a minute later
    second = NodeRegistry(NetworkSettings(), QualitySettings(), clock=clock)
    addresses = restore_adverts(second, store.list_adverts(), clock.now)
    assert sorted(e.node_id for e in second.entries()) == ["a", "b"]  # c was forgotten
    assert addresses == [
        "/ip4/127.0.0.1/tcp/4000/p2p/peer-a",
        "/ip4/127.0.0.1/tcp/4000/p2p/peer-b",
    ]
    assert not any(e.available for e in second.entries())
    assert not [n for n in second.snapshot().nodes if n.available]
    second.offer(advert(A, at=clock.now, seq=2).encode(), "peer-a")  # a is back
    assert [e.node_id for e in second.entries() if e.available] == ["a"]
    assert not restore_adverts(second, store.list_adverts(), clock.now)  # live ones win


def test_every_advert_received_is_announced_accepted_or_rejected_with_its_reason():
    """The ``qorch_on_advert`` hook (FR-001) hears about valid and invalid adverts."""
    import json

    from qorch.coordinator.discovery import Discovery

    clock = Clock()
    events = []
    discovery = Discovery(
        NodeRegistry(NetworkSettings(), QualitySettings(), clock=clock),
        on_advert=lambda **e: events.append(e),
    )
    good = json.loads(advert(A).encode())
    stale = json.loads(advert(A, at=T0 - 3600).encode())

    async def main():
        assert (await discovery("announce", good, "peer-a"))["ok"]
        assert not (await discovery("announce", stale, "peer-a"))["ok"]
        assert not (await discovery("announce", {"node_id": 5}, "peer-x"))["ok"]

    trio.run(main)
    assert [(e["node_id"], e["accepted"], e["reason"]) for e in events] == [
        ("a", True, None),
        ("a", False, "stale"),
        ("peer-x", False, "schema"),
    ]
    assert events[0]["advert"] == good


def test_work_for_a_node_the_registry_lists_unavailable_waits_for_it_to_return():
    """FR-008: the latest snapshot is consulted before each reserve/execute: a node that
    is gone gets no work (``unavailable`` after the call's timeout); one that comes back
    within it gets the call."""
    import pytest

    from qorch.coordinator.peer_client import PeerClient
    from qorch.transport import TransportError

    class Peer:
        calls = 0

        async def call(self, peer_id, verb, body, timeout):
            Peer.calls += 1
            return {"ok": True}

    clock = Clock()
    registry = NodeRegistry(NetworkSettings(), QualitySettings(), clock=clock)
    registry.offer(advert(A).encode(), "peer-a")
    client = PeerClient(Peer(), registry)
    assert trio.run(client.call, "a", "execute", {}, 1.0) == {"ok": True}
    registry.disconnected("peer-a")
    for verb in ("execute", "reserve"):
        with pytest.raises(TransportError, match="stayed unavailable"):
            trio.run(client.call, "a", verb, {}, 0.05)
    assert trio.run(client.call, "a", "cancel", {}, 1.0) == {"ok": True}  # not gated
    assert Peer.calls == 2

    async def back_soon():
        async with trio.open_nursery() as nursery:

            async def reconnect():
                await trio.sleep(0.05)
                registry.offer(advert(A, seq=2).encode(), "peer-a")

            nursery.start_soon(reconnect)
            assert await client.call("a", "execute", {}, 5.0) == {"ok": True}

    trio.run(back_soon)
    assert Peer.calls == 3
    with pytest.raises(TransportError, match="no node 'zz'"):
        trio.run(client.call, "zz", "execute", {}, 1.0)
