"""Hop events written off the hop path when sessions and the audit stream are on different Redis."""

from __future__ import annotations

import redis

from common.stream_pipe import StreamPipe
from tests.support import free_port
from tools.servers import wait_for


def test_events_wait_while_the_queue_redis_is_away_and_go_in_order(redis_client):
    failures: list[tuple[str, int]] = []
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    pipe = StreamPipe(dead, on_failure=lambda stage, n: failures.append((stage, n)))
    for n in range(3):
        pipe.put(("audit:events", 1000, {"kind": "hop", "n": str(n)}))
    assert wait_for(lambda: failures, 5)
    assert pipe.pending == 3 and redis_client.xlen("audit:events") == 0
    pipe.client = redis_client  # the queue Redis is back
    assert pipe.flush()
    assert [f[b"n"] for _, f in redis_client.xrange("audit:events")] == [b"0", b"1", b"2"]


def test_a_full_pipe_drops_and_counts_instead_of_growing(redis_client):
    failures: list[tuple[str, int]] = []
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    pipe = StreamPipe(dead, max_pending=2, on_failure=lambda stage, n: failures.append((stage, n)))
    for n in range(5):
        pipe.put(("audit:events", 1000, {"n": str(n)}))
    assert ("dropped", 1) in failures
    assert pipe.pending <= 2 + 1
