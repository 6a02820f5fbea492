"""What the coordinator observes, written to the store off the event loop (FR-008, FR-010).

The registry hands every accepted advert and every quality sample (advert fidelities,
the nodes' reports, the round trip and outcome of each call the coordinator makes) to
a :class:`Recorder`, and the job service hands it each finished fragment's record and
each completed job's metrics. Those
callbacks are synchronous and frequent, so the recorder only queues them (bounded: past
:data:`QUEUE_LIMIT` waiting records new ones are dropped and counted, never blocking the
loop); its :meth:`Recorder.run` task writes them in batches (one transaction each,
:meth:`~qorch.store.Store.batch`) in a worker thread. At
shutdown :meth:`Recorder.flush` writes what is still queued.

On start, :func:`restore_adverts` reloads the stored adverts into a registry (the
*service cache*): each keeps the time it was received, so staleness is honoured — an
entry is listed but unavailable until its node advertises again, and one silent for
longer than the registry forgets is not restored. Their addresses let the coordinator
find its nodes again without bootstrap addresses.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import trio
from loguru import logger

from qorch.coordinator.node_registry import FORGET_AFTER_TTLS, NodeRegistry
from qorch.model import AdvertRecord, FragmentRecord, MetricSample, QualityReport
from qorch.node.advert import Advert, AdvertError, advert_from_dict

QUEUE_LIMIT = 50_000
BATCH = 500  # records written per transaction at most


class Recorder:
    """Queues observations and writes them to ``store`` in batches (module docstring)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._send, self._receive = trio.open_memory_channel[tuple[str, Any]](QUEUE_LIMIT)
        self.dropped = 0
        self.written = 0

    # -- the callbacks (synchronous, never block) ---------------------------------------------

    def advert(self, advert: Advert, received_at: float) -> None:
        """An advert the registry accepted at ``received_at`` (unix seconds)."""
        at = dt.datetime.fromtimestamp(received_at, dt.UTC)
        expires = dt.datetime.fromtimestamp(received_at + advert.ttl_s, dt.UTC)
        self._put("advert", AdvertRecord(advert.node_id, at, expires, advert.to_dict()))

    def quality(self, report: QualityReport) -> None:
        """A quality sample."""
        self._put("quality", report)

    def fragment(self, record: FragmentRecord) -> None:
        """A fragment that finished (its record replaces an earlier one of the same id)."""
        self._put("fragment", record)

    def metric(self, name: str, value: float, **labels: str) -> None:
        """One sample of metric ``name`` now."""
        self._put("metric", MetricSample(name, value, dt.datetime.now(dt.UTC), labels))

    def _put(self, kind: str, record: Any) -> None:
        try:
            self._send.send_nowait((kind, record))
        except trio.WouldBlock:
            if not self.dropped:
                logger.warning("the store cannot keep up: dropping observations")
            self.dropped += 1

    # -- writing ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Write batches as they come, until cancelled."""
        async for first in self._receive:
            await self._write([first, *self._drain(BATCH - 1)])

    async def flush(self) -> None:
        """Write everything still queued (shielded: it runs during shutdown)."""
        with trio.CancelScope(shield=True):
            while batch := self._drain(BATCH):
                await self._write(batch)

    def _drain(self, limit: int) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        while len(out) < limit:
            try:
                out.append(self._receive.receive_nowait())
            except trio.WouldBlock:
                break
        return out

    async def _write(self, batch: list[tuple[str, Any]]) -> None:
        def write() -> None:
            with self.store.batch():
                self._write_each(batch)

        try:
            await trio.to_thread.run_sync(write)
            self.written += len(batch)
        except Exception as exc:  # a full disk must not stop the coordinator
            logger.error("could not store {} observation(s): {}", len(batch), exc)

    def _write_each(self, batch: list[tuple[str, Any]]) -> None:
        for kind, record in batch:
            if kind == "advert":
                self.store.put_advert(record)
            elif kind == "quality":
                self.store.add_quality_report(record)
            elif kind == "fragment":
                self.store.put_fragment(record)
            else:
                self.store.add_metric(record)


def restore_adverts(registry: NodeRegistry, records: list[AdvertRecord], now: float) -> list[str]:
    """Reload stored adverts into ``registry`` (module docstring); the addresses they name."""
    addresses: list[str] = []
    for record in records:
        received = record.received_at.timestamp()
        try:
            advert = advert_from_dict(
                record.advert,
                now=received,
                max_age_s=registry.network.advert_ttl_s,
                max_skew_s=registry.network.max_clock_skew_s,
            )
        except AdvertError as exc:  # a store written by another version: skip it
            logger.warning("stored advert of {} not restored: {}", record.node_id, exc)
            continue
        if now - received > FORGET_AFTER_TTLS * registry.ttl(advert):
            continue
        if registry.restore(advert, received):
            addresses.extend(advert.addresses[:1])
    return addresses
