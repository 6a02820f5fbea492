"""Live job events (FR-009): a hub that fans the coordinator's job and fragment events out to
websocket clients without ever waiting for them.

:class:`EventHub` is a qorch plugin (it implements the observer hooks
``qorch_on_job_state`` and ``qorch_on_fragment_state``; the coordinator registers it with
its plugin system) plus a ``plan`` event the job service publishes when a run's plan is
made. Every event gets a sequence number and goes to each matching
:class:`Subscription`: a bounded buffer per client. Publishing never blocks and never
fails: when a client's buffer is full its oldest event is dropped and the client's next
read starts with ``{"type": "lagged", "dropped": k}`` — so one slow consumer costs the
coordinator a deque append, and a client always knows when it missed something. Each
event is encoded to JSON once, whatever the number of clients.

On the wire (:func:`qorch.coordinator.api.follow`) a websocket text message carries one
or more events, one JSON object per line: a sender that wakes up waits
:data:`COALESCE_S` for the rest of a burst (a job's state change and its fragment
events come together) and sends them as one message — fewer, larger messages are what
keeps many followers cheap for the coordinator.

Event messages (JSON objects)::

    {"type": "job_state", "seq", "job_id", "old", "new", "at", "detail"}
    {"type": "plan", "seq", "job_id", "run", "fragments"}
    {"type": "fragment_state", "seq", "job_id", "fragment_id", "node", "state", "at", "detail"}
    {"type": "lagged", "dropped"}
"""

from __future__ import annotations

import collections
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pluggy
import trio

hookimpl = pluggy.HookimplMarker("qorch")
#: how long a sender waits after the first event of a burst before sending (seconds)
COALESCE_S = 0.1
#: an event as published, with its JSON text (encoded once for every client)
Entry = tuple[dict[str, Any], str]


def encode(event: dict[str, Any]) -> str:
    """The JSON text of one event (compact)."""
    return json.dumps(event, separators=(",", ":"), default=str)


class Subscription:
    """One client's bounded buffer of events (of one job, or of all when ``job_id`` is None)."""

    def __init__(self, job_id: str | None, size: int) -> None:
        self.job_id = job_id
        self._events: collections.deque[Entry] = collections.deque(maxlen=size)
        self._dropped = 0
        self._wake = trio.Event()

    def put(self, entry: Entry) -> None:
        """Buffer an event (with its text); drop the oldest when full (never blocks)."""
        if len(self._events) == self._events.maxlen:
            self._dropped += 1
        self._events.append(entry)
        self._wake.set()

    async def get(self, linger: float = 0.0) -> list[Entry]:
        """The events buffered since the last call (waits for at least one, then
        ``linger`` seconds more for the rest of a burst), preceded by a ``lagged`` marker
        when some were dropped in between."""
        while not self._events:
            await self._wake.wait()
            self._wake = trio.Event()
        if linger:
            await trio.sleep(linger)
        out: list[Entry] = []
        if self._dropped:
            marker = {"type": "lagged", "dropped": self._dropped}
            out.append((marker, encode(marker)))
            self._dropped = 0
        out.extend(self._events)
        self._events.clear()
        return out


class EventHub:
    """Fans events out to subscriptions (module docstring); register it as a plugin."""

    def __init__(self, buffer: int = 1000) -> None:
        self.buffer = buffer
        self._subs: set[Subscription] = set()
        self._seq = itertools.count(1)

    @property
    def clients(self) -> int:
        """Subscriptions open now."""
        return len(self._subs)

    @contextmanager
    def subscribe(self, job_id: str | None = None) -> Iterator[Subscription]:
        """A subscription to ``job_id``'s events (all jobs' when None) while in the block."""
        sub = Subscription(job_id, self.buffer)
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)

    def publish(self, event: dict[str, Any]) -> None:
        """Number ``event`` and hand it to every subscription that wants it."""
        event = {**event, "seq": next(self._seq)}
        entry = (event, encode(event))
        for sub in self._subs:
            if sub.job_id is None or sub.job_id == event.get("job_id"):
                sub.put(entry)

    @hookimpl
    def qorch_on_job_state(
        self, job_id: str, old: str | None, new: str, at: str, detail: dict
    ) -> None:
        """Publish a job's state change."""
        self.publish(
            {
                "type": "job_state",
                "job_id": job_id,
                "old": old,
                "new": new,
                "at": at,
                "detail": detail,
            }
        )

    @hookimpl
    def qorch_on_fragment_state(
        self, job_id: str, fragment_id: str, node: str | None, state: str, at: str, detail: dict
    ) -> None:
        """Publish a fragment's state change."""
        self.publish(
            {
                "type": "fragment_state",
                "job_id": job_id,
                "fragment_id": fragment_id,
                "node": node,
                "state": state,
                "at": at,
                "detail": detail,
            }
        )


class JobProgress:
    """A job's progress folded from its event stream (what ``qorch submit --wait`` shows):
    its state, and fragments done / total of the run in progress."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.state = "?"
        self.total: int | None = None
        self.done = 0
        self.ended = False

    def update(self, event: dict[str, Any]) -> None:
        """Fold one event message in."""
        kind = event.get("type")
        if kind == "snapshot" and "job" in event:
            self.state = event["job"]["state"]
            self.total = event["fragments"]["total"]
            self.done = event["fragments"]["done"]
        elif kind == "job_state":
            self.state = event["new"]
        elif kind == "plan":  # a fallback's new run starts from zero
            self.total, self.done = event["fragments"], 0
        elif kind == "fragment_state" and event["state"] == "COMPLETED":
            self.done += 1
        self.ended = self.state in ("COMPLETED", "FAILED") or kind == "error"


def decode(message: str | bytes) -> list[dict[str, Any]]:
    """The events of one websocket message (one JSON object per line)."""
    return [json.loads(line) for line in message.splitlines() if line.strip()]
