"""Retention of the SMS and USSD records: what is older than `RECORD_RETENTION_DAYS` is deleted, a
batch at a time, by a periodic job that every worker node runs.

What goes once it is older than the retention period:
- `sms_outbox` rows that are done with (sent, delivered, failed, opted out, rejected) and have not
  changed since (`updated_at`), with their status history and their delivery reports. A row still
  `queued` or `sending` is never deleted, however old: it is still on its way to the citizen. Nor is
  one that an inbound message kept below still points at (its reply);
- `sms_inbound` rows (when received), and delivery reports that never matched a message;
- `ussd_session_ends` rows (when received).
Opt-outs (`sms_opt_outs`) stay: they are the citizen's instruction until START. Drafts of dropped
sessions live in Redis with their own TTLs; the audit trail has `audit purge`.

Safe on many nodes at once, twice over: the periodic job takes a lease on the queue Redis, so one
node purges at a time; and each batch is claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL (two
purges take disjoint rows; SQLite runs writers one at a time), so even two purges that ran together
delete each row once and fail on nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

import redis
from sqlalchemy import delete, exists, select

from common.db import Database, utcnow
from common.lease import lease
from common.logs import get_logger
from records.sms import (
    DELIVERED,
    FAILED,
    OPTED_OUT,
    REJECTED,
    SENT,
    SmsDeliveryReport,
    SmsInbound,
    SmsMessage,
    SmsStatusChange,
)
from records.ussd import UssdSessionEnd

log = get_logger("records.retention")

PURGE_LEASE = "records:purge"
# A purge holds its lease this long past each batch; a node that dies keeps others out this long.
LEASE_TTL_S = 300.0
# Outbox rows in these states are done: nothing will send them again.
DONE = (SENT, DELIVERED, FAILED, OPTED_OUT, REJECTED)


@dataclass(frozen=True)
class PurgeCounts:
    """Rows deleted, per table (history rows go with their message and are not counted)."""

    sms_inbound: int = 0
    sms_outbox: int = 0
    sms_delivery_reports: int = 0
    ussd_session_ends: int = 0

    def __add__(self, other: PurgeCounts) -> PurgeCounts:
        return PurgeCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


def purge_records(
    database: Database,
    retention_days: int,
    batch_size: int = 500,
    now: datetime | None = None,
    keep_going: Callable[[], bool] = lambda: True,
) -> PurgeCounts:
    """Delete what is older than `retention_days` (see the module), `batch_size` rows per
    transaction, until nothing is left or `keep_going()` answers False (asked after each batch)."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    inbound_old = SmsInbound.received_at < cutoff
    outbox_done = (
        SmsMessage.status.in_(DONE),
        SmsMessage.updated_at < cutoff,
        ~exists().where(SmsInbound.reply_id == SmsMessage.id),
    )
    orphan_reports = (SmsDeliveryReport.message_id.is_(None), SmsDeliveryReport.received_at < cutoff)
    ends_old = UssdSessionEnd.received_at < cutoff

    counts = PurgeCounts()
    # Inbound rows first: the replies they point at are free to go after them.
    tables = (
        ("sms_inbound", select(SmsInbound.id).where(inbound_old), _drop_rows(SmsInbound)),
        ("sms_outbox", select(SmsMessage.id).where(*outbox_done), _drop_messages),
        (
            "sms_delivery_reports",
            select(SmsDeliveryReport.id).where(*orphan_reports),
            _drop_rows(SmsDeliveryReport),
        ),
        ("ussd_session_ends", select(UssdSessionEnd.id).where(ends_old), _drop_rows(UssdSessionEnd)),
    )
    for name, pick, drop in tables:
        batch = pick.order_by(pick.selected_columns[0]).limit(batch_size).with_for_update(skip_locked=True)
        while True:
            # A row picked here cannot turn pending again before it is deleted: only rows done with,
            # and untouched for days, are picked (and locked, on PostgreSQL).
            with database.session() as session:
                ids = list(session.scalars(batch))
                deleted = drop(session, ids) if ids else 0
            counts = counts + PurgeCounts(**{name: deleted})
            if len(ids) < batch_size:
                break
            if not keep_going():
                return counts
    return counts


def _drop_rows(model) -> Callable:
    def drop(session, ids: list[int]) -> int:
        return session.execute(
            delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False)
        ).rowcount

    return drop


def _drop_messages(session, ids: list[int]) -> int:
    """Outbox rows with what hangs on them: their history and the reports applied to them."""
    for child in (SmsStatusChange, SmsDeliveryReport):
        session.execute(
            delete(child).where(child.message_id.in_(ids)).execution_options(synchronize_session=False)
        )
    return session.execute(
        delete(SmsMessage).where(SmsMessage.id.in_(ids)).execution_options(synchronize_session=False)
    ).rowcount


def purge_once(
    database: Database, client: redis.Redis, retention_days: int, batch_size: int = 500
) -> PurgeCounts | None:
    """One purge, across every node one at a time (a lease on the queue Redis `client`): None when
    another node holds the lease. The lease is renewed after each batch; a purge that lost it stops."""
    with lease(client, PURGE_LEASE, LEASE_TTL_S) as held:
        if held is None:
            return None
        counts = purge_records(database, retention_days, batch_size, keep_going=held.extend)
    if counts.total:
        log.info("records purged", retention_days=retention_days, **vars(counts))
    return counts


def start_record_purger(
    database: Database, client: redis.Redis, retention_days: int, interval_s: float, batch_size: int = 500
) -> tuple[threading.Thread, threading.Event]:
    """Run `purge_once` now and then every `interval_s` in a daemon thread, until the event is set.
    A purge that fails (SQL or Redis away) is tried again at the next interval."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                purge_once(database, client, retention_days, batch_size)
            except Exception:  # tried again next interval; retention is never urgent
                log.exception("record purge failed")
            stop.wait(interval_s)

    thread = threading.Thread(target=run, name="record-purger", daemon=True)
    thread.start()
    return thread, stop
