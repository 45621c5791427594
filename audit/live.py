"""Figures read from Redis at scrape time: the audit backlog and the depth of every RQ queue.

Each collector reads through the client it is given; `create_app` registers them on the registry
`/metrics` renders, so nothing here is installed globally.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from rq import Queue

from audit.trail import GROUP, STREAM


class AuditBacklogCollector(Collector):
    """Events in the stream not yet in SQL, how many are being written, and the oldest one's age."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def collect(self) -> Iterable[GaugeMetricFamily]:
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
        family = GaugeMetricFamily("rq_queue_depth", "Jobs waiting in an RQ queue", labels=["queue"])
        try:
            # RQ lists a queue only once a job was put on it; "default" shows (as 0) from the start.
            names = {"default"} | {queue.name for queue in Queue.all(connection=self.redis)}
            for name in sorted(names):
                family.add_metric([name], len(Queue(name, connection=self.redis)))
        except redis.RedisError:
            return
        yield family


def live_collectors(client: redis.Redis) -> list[Collector]:
    """The collectors `/metrics` should read through `client`."""
    return [AuditBacklogCollector(client), QueueDepthCollector(client)]
