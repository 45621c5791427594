"""Retention of the SMS and USSD records (records/retention.py), on SQLite and PostgreSQL: what is
older than the retention period goes, an SMS still on its way never does, and two purges at once
delete each row once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from common.db import Database, utcnow
from common.lease import try_lease
from config import Settings
from records.retention import PURGE_LEASE, PurgeCounts, purge_once, purge_records, start_record_purger
from records.sms import (
    DELIVERED,
    FAILED,
    OPTED_OUT,
    QUEUED,
    REJECTED,
    SENDING,
    SENT,
    SmsDeliveryReport,
    SmsInbound,
    SmsMessage,
    SmsOptOut,
    SmsStatusChange,
)
from records.ussd import UssdSessionEnd
from tests.ops.test_periodic_jobs import _twice_at_once
from tools.servers import wait_for

NOW = utcnow()
OLD = NOW - timedelta(days=91)
RECENT = NOW - timedelta(days=89)


@pytest.fixture()
def database(database_url):
    database = Database(database_url)
    yield database
    database.engine.dispose()


def _messages(database: Database, rows: list[tuple[str, str, object]]) -> dict[str, int]:
    """Outbox rows (key, status, last change), each with a history row; {key: id}."""
    with database.session() as session:
        session.execute(
            insert(SmsMessage),
            [
                {
                    "dedupe_key": key,
                    "phone": "+254712000101",
                    "template": "help",
                    "params": {},
                    "status": status,
                    "created_at": at,
                    "updated_at": at,
                    "next_attempt_at": at,
                }
                for key, status, at in rows
            ],
        )
        ids = dict(session.execute(select(SmsMessage.dedupe_key, SmsMessage.id)).all())
        session.execute(
            insert(SmsStatusChange),
            [{"message_id": ids[key], "status": status, "at": at} for key, status, at in rows],
        )
    return ids


def _count(database: Database, model) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_what_is_older_than_the_retention_period_goes_and_nothing_on_its_way(database):
    ids = _messages(
        database,
        [
            *((f"old-{status}", status, OLD) for status in (SENT, DELIVERED, FAILED, OPTED_OUT, REJECTED)),
            ("old-queued", QUEUED, OLD),  # waiting for a retry for months: still to be sent
            ("old-sending", SENDING, OLD),  # a worker died with it: the sweeper's, not the purge's
            ("recent-delivered", DELIVERED, RECENT),
            ("old-reply-of-old-inbound", DELIVERED, OLD),
            ("old-reply-of-recent-inbound", DELIVERED, OLD),
        ],
    )
    with database.session() as session:
        session.execute(
            insert(SmsInbound),
            [
                {"provider_id": provider_id, "phone": "+254712000101", "command": "HELP", "received_at": at,
                 "reply_id": ids[reply]}
                for provider_id, at, reply in (
                    ("in-old", OLD, "old-reply-of-old-inbound"),
                    ("in-recent", RECENT, "old-reply-of-recent-inbound"),
                )
            ],
        )  # fmt: skip
        session.execute(
            insert(SmsDeliveryReport),
            [
                {"provider_message_id": "ATXid_1", "status": "Success", "message_id": ids["old-delivered"],
                 "received_at": OLD, "applied_at": OLD},
                {"provider_message_id": "ATXid_lost", "status": "Success", "received_at": OLD},
                {"provider_message_id": "ATXid_early", "status": "Success", "received_at": RECENT},
            ],
        )  # fmt: skip
        session.execute(
            insert(UssdSessionEnd),
            [
                {"session_id": f"ATUid_{n}", "service_code": "*384*123#", "network_code": "63902",
                 "status": "Success", "received_at": at}
                for n, at in enumerate([OLD, OLD, RECENT])
            ],
        )  # fmt: skip
        session.add(SmsOptOut(phone="+254712000101", since=OLD))

    counts = purge_records(database, retention_days=90, batch_size=2)

    assert counts == PurgeCounts(sms_inbound=1, sms_outbox=6, sms_delivery_reports=1, ussd_session_ends=2)
    with database.session() as session:
        kept = set(session.scalars(select(SmsMessage.dedupe_key)))
        history_of = set(session.scalars(select(SmsStatusChange.message_id)))
        reports = set(session.scalars(select(SmsDeliveryReport.provider_message_id)))
        inbound = set(session.scalars(select(SmsInbound.provider_id)))
    assert kept == {"old-queued", "old-sending", "recent-delivered", "old-reply-of-recent-inbound"}
    assert history_of == {ids[key] for key in kept}
    assert reports == {"ATXid_early"}
    assert inbound == {"in-recent"}
    assert _count(database, UssdSessionEnd) == 1
    assert _count(database, SmsOptOut) == 1  # STOP holds until START, however old

    assert purge_records(database, retention_days=90) == PurgeCounts()  # nothing left to do


def test_two_purges_at_once_delete_each_row_once(database):
    rows = 1200
    _messages(database, [(f"m{n}", DELIVERED, OLD) for n in range(rows)])
    with database.session() as session:
        session.execute(
            insert(UssdSessionEnd),
            [{"session_id": f"ATUid_{n}", "service_code": "*384*123#", "network_code": "63902",
              "status": "Success", "received_at": OLD} for n in range(rows)],
        )  # fmt: skip

    # Straight at the rows, no lease: the batches alone must keep the two apart.
    results = _twice_at_once(lambda: purge_records(database, retention_days=90, batch_size=50))

    assert sum((r for r in results), PurgeCounts()) == PurgeCounts(sms_outbox=rows, ussd_session_ends=rows)
    assert _count(database, SmsMessage) == 0
    assert _count(database, SmsStatusChange) == 0
    assert _count(database, UssdSessionEnd) == 0


def test_the_lease_lets_one_node_purge_at_a_time(database, redis_client):
    _messages(database, [(f"m{n}", DELIVERED, OLD) for n in range(300)])
    held = try_lease(redis_client, PURGE_LEASE, 30)
    assert held is not None
    assert purge_once(database, redis_client, 90, 50) is None  # another node is at it
    assert _count(database, SmsMessage) == 300
    held.release()

    results = _twice_at_once(lambda: purge_once(database, redis_client, 90, 50))
    done = [r for r in results if r is not None]
    assert sum((r.sms_outbox for r in done), 0) == 300
    assert _count(database, SmsMessage) == 0
    assert redis_client.exists(f"lease:{PURGE_LEASE}") == 0  # released for the next round


def test_a_purge_that_loses_its_lease_stops(database):
    _messages(database, [(f"m{n}", DELIVERED, OLD) for n in range(100)])
    counts = purge_records(database, 90, batch_size=10, keep_going=lambda: False)
    assert counts.sms_outbox == 10
    assert _count(database, SmsMessage) == 90


def test_the_worker_purges_on_its_own(database, redis_client):
    _messages(database, [("old", DELIVERED, OLD), ("recent", DELIVERED, RECENT)])
    thread, stop = start_record_purger(database, redis_client, retention_days=90, interval_s=0.05)
    try:
        assert wait_for(lambda: _count(database, SmsMessage) == 1, 10)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_purge_command(app, redis_client):
    database = app.extensions["database"]
    _messages(database, [("older-than-30-days", FAILED, NOW - timedelta(days=31))])
    result = app.test_cli_runner().invoke(args=["db", "purge", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert "purged 1 rows older than 30 days" in result.output
    assert _count(database, SmsMessage) == 0


def test_retention_below_a_day_is_refused():
    with pytest.raises(ValueError, match="RECORD_RETENTION_DAYS"):
        Settings.from_env(record_retention_days=0)
