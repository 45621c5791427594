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
    meter = HopMeter(flush_s=60)
    before = {le: _bucket(le) for le in ("0.001", "0.002", "0.004", "+Inf")}
    total_before = REGISTRY.get_sample_value("ussd_hop_latency_seconds_sum") or 0.0
    for seconds in (0.0005, 0.001, 0.0015, 0.003, 99.0):
        meter.record("meter_test_buckets", seconds)
    meter.flush()
    # buckets are cumulative in the exposition
    assert _bucket("0.001") - before["0.001"] == 2
    assert _bucket("0.002") - before["0.002"] == 3
    assert _bucket("0.004") - before["0.004"] == 4
    assert _bucket("+Inf") - before["+Inf"] == 5
    total = REGISTRY.get_sample_value("ussd_hop_latency_seconds_sum")
    assert abs(total - total_before - 99.006) < 1e-6


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
