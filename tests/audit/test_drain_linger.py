"""Under load the drainer waits a moment after a short batch, so events reach SQL in full batches."""

from __future__ import annotations

import pytest
import redis
from sqlalchemy import func, select

from audit.drain import Drainer, drain_client
from audit.trail import STREAM
from config import Settings
from records.audit import AuditRecord


class StopAfter:
    """A stop event for `Drainer.run`: set after `rounds` turns of its loop. Each wait is recorded
    and runs `during_wait` (what arrives in the stream meanwhile) instead of sleeping."""

    def __init__(self, rounds: int, during_wait) -> None:
        self.rounds = rounds
        self.during_wait = during_wait
        self.waits: list[float] = []

    def is_set(self) -> bool:
        self.rounds -= 1
        return self.rounds < 0

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.during_wait()
        return False


def _operator_events(app, count: int) -> None:
    app.extensions["audit"].record_many(
        "operator", [{"action": "publish", "actor": f"op{i}"} for i in range(count)]
    )


def _records(app) -> int:
    with app.extensions["database"].session() as session:
        return session.scalar(select(func.count()).select_from(AuditRecord))


def _drainer(app, batch: int, linger_s: float) -> Drainer:
    client = drain_client(app.extensions["settings"].redis_url)
    return Drainer(client, app.extensions["database"], batch=batch, linger_s=linger_s)


def test_a_short_batch_is_followed_by_the_linger_and_a_full_one_is_not(app):
    _operator_events(app, 3)
    stop = StopAfter(rounds=2, during_wait=lambda: _operator_events(app, 50))
    _drainer(app, batch=50, linger_s=0.25).run(stop, block_ms=10)
    # round 1: the 3 waiting events (a short batch), then the linger, while 50 more arrive;
    # round 2: those 50 as one full batch, read again at once (no linger)
    assert stop.waits == [0.25]
    assert _records(app) == 53
    assert app.extensions["redis"].xlen(STREAM) == 0


def test_without_a_linger_the_drainer_reads_again_at_once(app):
    _operator_events(app, 3)
    stop = StopAfter(rounds=1, during_wait=lambda: None)
    _drainer(app, batch=50, linger_s=0.0).run(stop, block_ms=10)
    assert stop.waits == [] and _records(app) == 3


def test_an_empty_stream_is_waited_on_in_redis_not_in_the_linger(app):
    stop = StopAfter(rounds=1, during_wait=lambda: None)
    _drainer(app, batch=50, linger_s=0.25).run(stop, block_ms=10)
    assert stop.waits == [] and _records(app) == 0


@pytest.mark.parametrize("value", ["-1", "5001"])
def test_the_linger_setting_is_bounded(monkeypatch, value):
    monkeypatch.setenv("AUDIT_DRAIN_LINGER_MS", value)
    with pytest.raises(ValueError, match="AUDIT_DRAIN_LINGER_MS"):
        Settings.from_env()


def test_a_stream_that_vanished_with_its_group_is_drained_again(app):
    """A Redis that came back empty (or a new primary without the stream) loses the consumer
    group too; the drainer makes it again instead of pausing for good."""
    _operator_events(app, 2)
    drainer = _drainer(app, batch=50, linger_s=0.0)
    assert drainer.drain_once() == 2
    app.extensions["redis"].delete(STREAM)  # the group goes with it
    _operator_events(app, 3)
    with pytest.raises(redis.ResponseError, match="NOGROUP"):
        drainer.drain_once()  # `run` backs off once after this, as after any Redis error
    assert drainer.drain_once() == 3
    assert _records(app) == 5
