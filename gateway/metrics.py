"""Prometheus metrics of the edge. With PROMETHEUS_MULTIPROC_DIR set (as `make run` does for its
worker processes) `/metrics` adds up every process."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

HOPS = Counter("ussd_hops_total", "USSD hops answered, by outcome", ["outcome"])
HOP_LATENCY = Histogram(
    "ussd_hop_latency_seconds",
    "Time from request to reply for one USSD hop, our own time",
    buckets=(0.001, 0.002, 0.004, 0.006, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
HOP_ERRORS = Counter("ussd_hop_errors_total", "Hops that failed inside the gateway, by kind", ["kind"])
SESSION_ENDS = Counter("ussd_session_ends_total", "Session-end events from the aggregator", ["status"])
CALLBACK_REJECTED = Counter("ussd_callbacks_rejected_total", "Callbacks refused before a hop ran", ["reason"])
# Collectors that read live figures at scrape time (audit backlog, queue depth), added by app.py.
LIVE = CollectorRegistry(auto_describe=False)


def render_metrics() -> tuple[bytes, str]:
    """The Prometheus text exposition of every metric this deployment keeps."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry) + generate_latest(LIVE), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY) + generate_latest(LIVE), CONTENT_TYPE_LATEST
