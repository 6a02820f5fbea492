"""Prometheus metrics of a coordinator (FR-012), served at ``/metrics``.

:class:`CoordinatorMetrics` owns one ``prometheus_client`` registry per coordinator (never
the process-global one, so several coordinators in one process — tests — keep apart). It
is a qorch plugin: it counts from the observer hooks (``qorch_on_job_state``,
``qorch_on_fragment_state``, ``qorch_on_advert``) and reads the queue, the registry, the
event hub and the wire's rejected frames when scraped.

==========================================  =========  ====================================
metric                                      type       what
==========================================  =========  ====================================
qorch_queue_depth                           gauge      jobs waiting for a worker
qorch_jobs_total{state}                     counter    jobs that ended COMPLETED / FAILED
qorch_job_failures_total{reason}            counter    failed jobs by error kind
qorch_job_success_ratio                     gauge      completed / ended (since start)
qorch_job_latency_seconds                   histogram  submit-to-result of completed jobs
qorch_job_compile_seconds                   histogram  compiling, all plans of a job
qorch_orchestration_overhead_seconds        histogram  wall time not spent in simulated ops
qorch_fragment_latency_seconds{kind}        histogram  first start to end of a fragment
qorch_fragment_retries_total                counter    fragment attempts that were retried
qorch_fallbacks_total                       counter    re-plans of completed jobs
qorch_registry_nodes{status}                gauge      nodes available / unavailable / degraded
qorch_registry_staleness_seconds            gauge      oldest advert age of an available node
qorch_adverts_total{result}                 counter    adverts accepted / rejected
qorch_wire_rejected_frames_total{reason}    gauge      frames dropped: too_large / protocol
qorch_http_requests_total{method,status}    counter    HTTP requests answered
qorch_event_clients                         gauge      websocket clients following events
==========================================  =========  ====================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

from qorch.wire import REJECTED_FRAMES

hookimpl = pluggy.HookimplMarker("qorch")
disable_created_metrics()  # no *_created series: they only repeat the start time
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)


class _Live:
    """A collector that reads gauges off live objects at scrape time."""

    def __init__(self, read: Callable[[], list[GaugeMetricFamily]]) -> None:
        self.read = read

    def collect(self) -> list[GaugeMetricFamily]:
        return self.read()


class CoordinatorMetrics:
    """The coordinator's metrics (module docstring); register it as a plugin."""

    def __init__(self, registry_view: Any, event_clients: Callable[[], int] = lambda: 0) -> None:
        self.nodes = registry_view
        #: jobs waiting for a worker; the server points it at its job service once it has one
        self.queue_depth: Callable[[], int] = lambda: 0
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs = Counter("qorch_jobs", "jobs that ended, by state", ["state"], registry=r)
        self.failures = Counter(
            "qorch_job_failures", "failed jobs by error kind", ["reason"], registry=r
        )
        self.job_latency = Histogram(
            "qorch_job_latency_seconds",
            "wall time of completed jobs",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.compile = Histogram(
            "qorch_job_compile_seconds", "compile time of a job", buckets=_FAST_BUCKETS, registry=r
        )
        self.overhead = Histogram(
            "qorch_orchestration_overhead_seconds",
            "wall time of a job not spent in simulated operations",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.fragment_latency = Histogram(
            "qorch_fragment_latency_seconds",
            "first start to end of a fragment",
            ["kind"],
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.retries = Counter("qorch_fragment_retries", "fragment attempts retried", registry=r)
        self.fallbacks = Counter("qorch_fallbacks", "re-plans of completed jobs", registry=r)
        self.adverts = Counter("qorch_adverts", "adverts received", ["result"], registry=r)
        self.http = Counter(
            "qorch_http_requests", "HTTP requests answered", ["method", "status"], registry=r
        )
        queue = Gauge("qorch_queue_depth", "jobs waiting for a worker", registry=r)
        queue.set_function(lambda: float(self.queue_depth()))
        clients = Gauge("qorch_event_clients", "websocket clients following events", registry=r)
        clients.set_function(lambda: float(event_clients()))
        r.register(_Live(self._live))

    def _live(self) -> list[GaugeMetricFamily]:
        entries = self.nodes.entries()
        now = self.nodes.clock()
        nodes = GaugeMetricFamily("qorch_registry_nodes", "nodes by status", labels=["status"])
        available = [e for e in entries if e.available]
        nodes.add_metric(["available"], len(available))
        nodes.add_metric(["unavailable"], len(entries) - len(available))
        nodes.add_metric(["degraded"], sum(1 for e in entries if e.degraded))
        stale = GaugeMetricFamily(
            "qorch_registry_staleness_seconds", "oldest advert age of an available node"
        )
        stale.add_metric([], max((e.age(now) for e in available), default=0.0))
        done = {
            s.labels["state"]: s.value
            for m in self.jobs.collect()
            for s in m.samples
            if s.name.endswith("_total")
        }
        ended = sum(done.values())
        ratio = GaugeMetricFamily("qorch_job_success_ratio", "completed / ended jobs")
        ratio.add_metric([], done.get("COMPLETED", 0.0) / ended if ended else 1.0)
        frames = GaugeMetricFamily(
            "qorch_wire_rejected_frames_total",
            "wire frames dropped on receipt (this process)",
            labels=["reason"],
        )
        for reason in ("too_large", "protocol"):
            frames.add_metric([reason], REJECTED_FRAMES[reason])
        return [nodes, stale, ratio, frames]

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)

    def request(self, method: str, status: int) -> None:
        """Count one answered HTTP request."""
        self.http.labels(method, str(status)).inc()

    @hookimpl
    def qorch_on_job_state(
        self, job_id: str, old: str | None, new: str, at: str, detail: dict
    ) -> None:
        """Count ended jobs, their failures and figures."""
        if new not in ("COMPLETED", "FAILED"):
            return
        self.jobs.labels(new).inc()
        if new == "FAILED":
            self.failures.labels(str((detail.get("error") or {}).get("kind", "unknown"))).inc()
            return
        figures = detail.get("figures") or {}
        if figures.get("wall_ms") is not None:
            self.job_latency.observe(figures["wall_ms"] / 1000)
        if figures.get("compile_ms") is not None:
            self.compile.observe(figures["compile_ms"] / 1000)
        if figures.get("orchestration_overhead_ms") is not None:
            self.overhead.observe(figures["orchestration_overhead_ms"] / 1000)
        self.fallbacks.inc(figures.get("fallbacks") or 0)

    @hookimpl
    def qorch_on_fragment_state(
        self, job_id: str, fragment_id: str, node: str | None, state: str, at: str, detail: dict
    ) -> None:
        """Count retries; time finished fragments."""
        if state == "RETRYING":
            self.retries.inc()
        elif state == "COMPLETED" and detail.get("duration_s") is not None:
            self.fragment_latency.labels(detail.get("kind", "local")).observe(detail["duration_s"])

    @hookimpl
    def qorch_on_advert(
        self, node_id: str, accepted: bool, reason: str | None, advert: dict
    ) -> None:
        """Count adverts by result."""
        self.adverts.labels("accepted" if accepted else "rejected").inc()
