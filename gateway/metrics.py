"""Prometheus metrics of the edge. With PROMETHEUS_MULTIPROC_DIR set (as `make run` does for its
worker processes) `/metrics` adds up every process."""

from __future__ import annotations

import os
import threading
import time
import weakref
from bisect import bisect_left
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


class HopMeter:
    """Counts hops by outcome and their latency for `ussd_hops_total` and `ussd_hop_latency_seconds`,
    at a few hundred nanoseconds a hop.

    Each thread adds to its own plain tally (no lock, no file); the tallies are pushed into the
    Prometheus metrics (a locked write per changed series in multi-process mode) by the first hop
    after `flush_s` seconds and by a background thread every `flush_s` seconds, so `/metrics` lags
    the hops by at most that. A meter's first hop is pushed at once. Thread-safe; one per process.
    """

    def __init__(self, flush_s: float = 1.0) -> None:
        self.flush_s = flush_s
        self._bounds = tuple(HOP_LATENCY._upper_bounds)  # noqa: SLF001 - the histogram's own buckets
        self._local = threading.local()
        self._tallies: list[_Tally] = []
        self._lock = threading.Lock()
        self._flushed_at = 0.0
        self._flusher: threading.Thread | None = None

    def record(self, outcome: str, seconds: float) -> None:
        """Count one hop with `outcome` that took `seconds`."""
        tally = getattr(self._local, "tally", None)
        if tally is None:
            tally = self._new_tally()
        counts = tally.counts
        counts[outcome] = counts.get(outcome, 0) + 1
        tally.buckets[bisect_left(self._bounds, seconds)] += 1
        tally.seconds += seconds
        if time.monotonic() - self._flushed_at >= self.flush_s:
            self.flush(wait=False)

    def flush(self, wait: bool = True) -> None:
        """Push every thread's counts into the Prometheus metrics (skipped if another flush runs
        and `wait` is False)."""
        if not self._lock.acquire(blocking=wait):
            return
        try:
            self._flushed_at = time.monotonic()
            for tally in tuple(self._tallies):
                tally.push()
        finally:
            self._lock.release()

    def _new_tally(self) -> _Tally:
        tally = _Tally(len(self._bounds))
        self._local.tally = tally
        with self._lock:
            self._tallies.append(tally)
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=_flush_every, args=(weakref.ref(self), self.flush_s), daemon=True, name="hop-meter"
                )
                self._flusher.start()
        return tally


class _Tally:
    """One thread's hop counts: written by that thread only, read and pushed under the meter's lock."""

    def __init__(self, buckets: int) -> None:
        self.counts: dict[str, int] = {}
        self.buckets = [0] * buckets
        self.seconds = 0.0
        self._pushed_counts: dict[str, int] = {}
        self._pushed_buckets = [0] * buckets
        self._pushed_seconds = 0.0

    def push(self) -> None:
        counts = dict(self.counts)  # a copy in one step: the owner may add an outcome meanwhile
        for outcome, count in counts.items():
            delta = count - self._pushed_counts.get(outcome, 0)
            if delta:
                HOPS.labels(outcome).inc(delta)
        self._pushed_counts = counts
        buckets = list(self.buckets)
        for index, count in enumerate(buckets):
            delta = count - self._pushed_buckets[index]
            if delta:
                HOP_LATENCY._buckets[index].inc(delta)  # noqa: SLF001 - observe() adds one at a time
        self._pushed_buckets = buckets
        seconds = self.seconds
        if seconds != self._pushed_seconds:
            HOP_LATENCY._sum.inc(seconds - self._pushed_seconds)  # noqa: SLF001
            self._pushed_seconds = seconds


def _flush_every(meter_ref: weakref.ref, interval_s: float) -> None:
    """Push a meter's figures every `interval_s` while it lives, so an idle process's last hops show."""
    while True:
        time.sleep(max(interval_s, 0.05))
        meter = meter_ref()
        if meter is None:
            return
        meter.flush()
        del meter
