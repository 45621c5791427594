"""Prometheus figures an alert would watch: audit backlog and write failures, core-service latency
and errors, RQ queue depth, SMS failures.

Counters and histograms are ordinary (multiprocess-safe) metrics. Backlog and queue depth are read
live from Redis at scrape time by collectors that `create_app` registers on `gateway.metrics.LIVE`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

AUDIT_WRITE_FAILURES = Counter(
    "audit_write_failures_total",
    "Audit events that could not be written: to the stream (event lost) or to SQL (batch retried)",
    ["stage"],
)
AUDIT_RECORDS_WRITTEN = Counter("audit_records_written_total", "Audit records committed to SQL")
BACKEND_LATENCY = Histogram(
    "backend_request_seconds",
    "Time of one call to the core service, by operation",
    ["operation"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0),
)
BACKEND_ERRORS = Counter(
    "backend_errors_total", "Failed calls to the core service, by operation and kind", ["operation", "kind"]
)
SMS_FAILURES = Counter("sms_failures_total", "SMS that failed to send or deliver, by reason", ["reason"])


def observe_backend(
    operation: str, seconds: float, ok: bool, error: str | None = None, write: bool = False, **fields: Any
) -> None:
    """For `backend_client`: time and outcome of one core-service call; writes also go to the trail.

    `error` is a short kind (`timeout`, `unavailable`, `rejected`…), never a response body.
    """
    from audit.trail import record

    BACKEND_LATENCY.labels(operation).observe(seconds)
    if not ok:
        BACKEND_ERRORS.labels(operation, error or "error").inc()
    if write:
        record(
            "backend", operation=operation, ok=ok, error=error, latency_ms=round(seconds * 1000, 3), **fields
        )


@contextmanager
def backend_call(operation: str, write: bool = False, **fields: Any) -> Iterator[None]:
    """`with backend_call("submit_application", write=True, reference=ref): …` — an exception
    counts as an error of its class name and propagates."""
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        observe_backend(operation, time.perf_counter() - started, False, type(exc).__name__, write, **fields)
        raise
    observe_backend(operation, time.perf_counter() - started, True, None, write, **fields)


class AuditBacklogCollector(Collector):
    """Events in the stream not yet in SQL, how many are being written, and the oldest one's age."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def collect(self) -> Iterable[GaugeMetricFamily]:
        from audit.trail import GROUP, STREAM

        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.xlen(STREAM)
            pipe.xrange(STREAM, count=1)
            pipe.xpending(STREAM, GROUP)
            length, oldest, pending = pipe.execute(raise_on_error=False)
        except redis.RedisError:
            return
        if isinstance(length, int):
            yield GaugeMetricFamily("audit_backlog_events", "Audit events waiting in Redis for SQL", length)
        if isinstance(pending, dict):
            yield GaugeMetricFamily(
                "audit_pending_events",
                "Audit events read by a drainer, not yet committed",
                pending["pending"],
            )
        age = 0.0
        if isinstance(oldest, list) and oldest:
            entry_id = oldest[0][0]
            entry_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            age = max(time.time() - int(entry_id.split("-")[0]) / 1000, 0.0)
        yield GaugeMetricFamily("audit_backlog_oldest_seconds", "Age of the oldest audit event in Redis", age)


class QueueDepthCollector(Collector):
    """`len(queue)` of every RQ queue this Redis knows (default, sms, …), read at scrape time."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def collect(self) -> Iterable[GaugeMetricFamily]:
        from rq import Queue

        family = GaugeMetricFamily("rq_queue_depth", "Jobs waiting in an RQ queue", labels=["queue"])
        try:
            # RQ lists a queue only once a job was put on it; "default" shows (as 0) from the start.
            names = {"default"} | {queue.name for queue in Queue.all(connection=self.redis)}
            for name in sorted(names):
                family.add_metric([name], len(Queue(name, connection=self.redis)))
        except redis.RedisError:
            return
        yield family


_installed: list[Collector] = []


def install_live_collectors(registry: CollectorRegistry, client: redis.Redis) -> None:
    """Read audit backlog and queue depth through `client` at scrape time (replacing earlier ones)."""
    for collector in _installed:
        registry.unregister(collector)
    _installed[:] = [AuditBacklogCollector(client), QueueDepthCollector(client)]
    for collector in _installed:
        registry.register(collector)
