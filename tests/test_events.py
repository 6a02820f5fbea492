"""The event hub behind the websockets (FR-009): fan-out by job, bounded buffers that drop
the oldest events with a ``lagged`` marker, and publishing that never waits."""

from __future__ import annotations

import json

import trio

from qorch.coordinator.events import EventHub
from qorch.plugins import PluginSystem


def state(hub: EventHub, job: str, new: str) -> None:
    hub.qorch_on_job_state(job_id=job, old=None, new=new, at="t", detail={})


def events(entries: list) -> list[dict]:
    """The events of ``get()``'s entries (each text is its event's JSON, checked here)."""
    assert all(json.loads(text) == event for event, text in entries)
    return [event for event, _ in entries]


def test_a_job_subscription_sees_only_its_job_and_the_all_jobs_one_sees_everything():
    async def main():
        hub = EventHub(buffer=10)
        with hub.subscribe("a") as only_a, hub.subscribe(None) as every:
            state(hub, "a", "QUEUED")
            state(hub, "b", "QUEUED")
            hub.qorch_on_fragment_state(
                job_id="a", fragment_id="f0", node="n1", state="RUNNING", at="t", detail={}
            )
            got_a = events(await only_a.get())
            got_all = events(await every.get())
        assert [(e["type"], e["job_id"]) for e in got_a] == [
            ("job_state", "a"),
            ("fragment_state", "a"),
        ]
        assert [e["job_id"] for e in got_all] == ["a", "b", "a"]
        assert [e["seq"] for e in got_all] == sorted(e["seq"] for e in got_all)
        assert hub.clients == 0  # leaving the block unsubscribes

    trio.run(main)


def test_a_slow_client_loses_the_oldest_events_and_is_told_how_many():
    async def main():
        hub = EventHub(buffer=3)
        with hub.subscribe(None) as slow:
            for i in range(8):  # publishing never waits for the reader
                state(hub, f"j{i}", "QUEUED")
            first = events(await slow.get())
            state(hub, "late", "QUEUED")
            second = events(await slow.get())
        assert first[0] == {"type": "lagged", "dropped": 5}
        assert [e["job_id"] for e in first[1:]] == ["j5", "j6", "j7"]
        assert [e["type"] for e in second] == ["job_state"]  # no marker once caught up

    trio.run(main)


def test_a_reader_waits_for_the_next_event():
    async def main():
        hub = EventHub(buffer=5)
        got = []
        with hub.subscribe("x") as sub:
            async with trio.open_nursery() as nursery:

                async def read():
                    got.extend(events(await sub.get()))

                nursery.start_soon(read)
                await trio.sleep(0.05)
                assert got == []
                state(hub, "x", "COMPILING")
        assert [e["new"] for e in got] == ["COMPILING"]

    trio.run(main)


def test_the_hub_hears_the_coordinator_hooks_while_registered():
    plugins = PluginSystem(entry_points=False)
    hub = EventHub()

    async def main():
        with hub.subscribe(None) as sub:
            with plugins.observing(hub, "events"):
                plugins.notify(
                    "qorch_on_job_state", job_id="j", old="QUEUED", new="COMPILING", at="t",
                    detail={},
                )  # fmt: skip
            plugins.notify(  # after the block it hears nothing
                "qorch_on_job_state", job_id="j", old="COMPILING", new="FAILED", at="t", detail={}
            )
            got = events(await sub.get())
        assert [e["new"] for e in got] == ["COMPILING"]

    trio.run(main)


def test_progress_folds_a_stream_including_a_fallback_that_starts_over():
    from qorch.coordinator.events import JobProgress

    p = JobProgress("j")
    p.update(
        {"type": "snapshot", "job": {"state": "EXECUTING"}, "fragments": {"total": 3, "done": 1}}
    )
    assert (p.state, p.done, p.total, p.ended) == ("EXECUTING", 1, 3, False)
    p.update({"type": "fragment_state", "state": "RUNNING"})
    p.update({"type": "fragment_state", "state": "COMPLETED"})
    assert p.done == 2
    p.update({"type": "plan", "run": 1, "fragments": 4})  # a fallback re-plans from zero
    assert (p.done, p.total) == (0, 4)
    p.update({"type": "job_state", "new": "COMPLETED"})
    assert p.ended and p.state == "COMPLETED"


def test_a_burst_is_read_at_once_after_the_linger():
    """What keeps many followers cheap: the events of one burst go out as one message."""

    async def main():
        hub = EventHub(buffer=10)
        with hub.subscribe(None) as sub:
            async with trio.open_nursery() as nursery:
                got = []

                async def read():
                    got.append(events(await sub.get(linger=0.2)))

                nursery.start_soon(read)
                state(hub, "a", "QUEUED")
                await trio.sleep(0.05)  # inside the linger: joins the same read
                state(hub, "a", "COMPILING")
        assert [[e["new"] for e in batch] for batch in got] == [["QUEUED", "COMPILING"]]

    trio.run(main)


def test_a_message_of_several_lines_decodes_to_its_events():
    from qorch.coordinator.events import decode, encode

    message = "\n".join(encode({"seq": i}) for i in range(3))
    assert decode(message) == [{"seq": 0}, {"seq": 1}, {"seq": 2}]
