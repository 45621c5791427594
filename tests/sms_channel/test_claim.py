"""A worker's claim takes exactly one batch of due rows, on SQLite and on PostgreSQL, however many are
due and however many workers claim at once."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, insert, select

from records.sms import QUEUED, SENDING, SmsMessage, utcnow
from sms.worker import claim

DUE = 2_000


def _fill(database, count: int) -> list[int]:
    """`count` rendered, due rows in one statement (the outbox's own path queues a job per row)."""
    now = utcnow() - timedelta(seconds=1)
    rows = [
        {
            "dedupe_key": f"claim-{n}",
            "phone": f"+2547{n:08d}",
            "template": "help",
            "params": {},
            "language": "en",
            "body": "Help: dial *384*123#",
            "status": QUEUED,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
            "next_attempt_at": now,
        }
        for n in range(count)
    ]
    with database.session() as session:
        session.execute(insert(SmsMessage), rows)
        return list(session.scalars(select(SmsMessage.id).order_by(SmsMessage.id)))


def _sending(database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count(SmsMessage.id)).where(SmsMessage.status == SENDING))


def test_a_claim_takes_exactly_one_batch_of_two_thousand_due_rows(channel, worker):
    batch = worker.settings.sms_batch_size
    ids = _fill(channel.database, DUE)
    _token, claimed = claim(worker, ids[-1])
    assert len(claimed) == batch
    assert ids[-1] in {row.id for row in claimed}, "the job's own row is in its batch"
    assert _sending(channel.database) == batch
    _token, second = claim(worker, ids[DUE // 2])
    assert len(second) == batch
    assert not {row.id for row in claimed} & {row.id for row in second}
    assert _sending(channel.database) == 2 * batch


def test_workers_claiming_at_once_never_share_a_row_nor_exceed_a_batch(channel, worker):
    batch = worker.settings.sms_batch_size
    ids = _fill(channel.database, DUE)
    workers = 8
    start = threading.Barrier(workers)
    claims: list[list[int]] = [[] for _ in range(workers)]

    def run(n: int) -> None:
        start.wait(10)
        _token, rows = claim(worker, ids[n * 100])
        claims[n] = [row.id for row in rows]

    threads = [threading.Thread(target=run, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(len(rows) <= batch for rows in claims), [len(rows) for rows in claims]
    every = [row for rows in claims for row in rows]
    assert len(every) == len(set(every)), "a row was claimed twice"
    assert _sending(channel.database) == len(every)
    # The claims that found their row still due took a whole batch: rows were plenty.
    assert sum(len(rows) == batch for rows in claims) >= 1
