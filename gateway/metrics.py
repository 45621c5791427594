"""Prometheus metrics of the edge. With PROMETHEUS_MULTIPROC_DIR set (as `make run` does for its
worker processes) `/metrics` adds up every process."""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

HOPS = Counter("ussd_hops_total", "USSD hops answered, by outcome", ["outcome"])
HOP_LATENCY = Histogram(
    "ussd_hop_latency_seconds",
    "Time from request to reply for one USSD hop, our own time",
    buckets=(0.001, 0.002, 0.004, 0.006, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
HOP_ERRORS = Counter("ussd_hop_errors_total", "Hops that failed inside the gateway, by kind", ["kind"])
SESSION_ENDS = Counter("ussd_session_ends_total", "Session-end events from the aggregator", ["status"])
CALLBACK_REJECTED = Counter("ussd_callbacks_rejected_total", "Callbacks refused before a hop ran", ["reason"])


def live_registry(collectors: Iterable[Collector]) -> CollectorRegistry:
    """A registry of collectors that read live figures at scrape time (audit backlog, queue depth)."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return registry


def render_metrics(live: CollectorRegistry | None = None) -> tuple[bytes, str]:
    """The Prometheus text exposition of every metric this deployment keeps, plus `live`'s."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        from prometheus_client import REGISTRY as registry
    payload = generate_latest(registry)
    if live is not None:
        payload += generate_latest(live)
    return payload, CONTENT_TYPE_LATEST
