"""The hop meter: per-thread tallies pushed into Prometheus, none lost, none counted twice."""

from __future__ import annotations

import threading
import time

from prometheus_client import REGISTRY

from gateway.metrics import HopMeter


def _hops(outcome: str) -> float:
    return REGISTRY.get_sample_value("ussd_hops_total", {"outcome": outcome}) or 0.0


def _bucket(le: str) -> float:
    return REGISTRY.get_sample_value("ussd_hop_latency_seconds_bucket", {"le": le}) or 0.0


def test_hops_from_many_threads_are_all_counted_once():
    meter = HopMeter(flush_s=0.01)
    before = _hops("meter_test_threads")
    barrier = threading.Barrier(8)

    def play():
        barrier.wait()
        for _ in range(5000):
            meter.record("meter_test_threads", 0.003)

    threads = [threading.Thread(target=play) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    meter.flush()
    assert _hops("meter_test_threads") - before == 40_000
    meter.flush()  # a second push adds nothing
    assert _hops("meter_test_threads") - before == 40_000


def test_latency_lands_in_the_bucket_observe_would_pick():
    """Against a private histogram with the same buckets: the process-wide one also takes the late
    pushes of other tests' meters, so its deltas cannot be compared exactly."""
    from prometheus_client import CollectorRegistry, Histogram

    from gateway.metrics import HOP_LATENCY

    bounds = [b for b in HOP_LATENCY._upper_bounds if b != float("inf")]
    reference = Histogram(
        "reference_latency", "observe()'s own placement", buckets=bounds, registry=CollectorRegistry()
    )
    meter = HopMeter(flush_s=60)
    values = (0.0005, 0.001, 0.0015, 0.003, 99.0)
    before = _bucket("+Inf")
    for seconds in values:
        meter.record("meter_test_buckets", seconds)
        reference.observe(seconds)
    (tally,) = meter._tallies
    assert tally.buckets == [bucket.get() for bucket in reference._buckets]
    assert abs(tally.seconds - sum(values)) < 1e-9
    meter.flush()
    assert _bucket("+Inf") - before >= 5  # pushed into the process's histogram (others may add)


def test_an_idle_processs_last_hops_show_without_another_hop():
    meter = HopMeter(flush_s=0.05)
    before = _hops("meter_test_idle")
    meter.record("meter_test_idle", 0.001)  # the first hop is pushed at once
    assert _hops("meter_test_idle") - before == 1
    meter.record("meter_test_idle", 0.001)  # inside the interval: held back, then pushed by the flusher
    deadline = time.monotonic() + 5
    while _hops("meter_test_idle") - before < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _hops("meter_test_idle") - before == 2
