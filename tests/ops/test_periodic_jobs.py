"""Periodic jobs that every node runs, run twice at once: each row or event is handled once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from rq import Queue
from sqlalchemy import func, select, update

from common.lease import lease, try_lease
from records.sms import DELIVERED, SENDING, SENT, SmsMessage, SmsStatusChange, utcnow
from sms.outbox import KICK_JOB
from sms.worker import WorkerContext, sweep


def _twice_at_once(job):
    """Run `job()` in two threads released by one barrier; both results."""
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait(5)
            results[n] = job()
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


@pytest.fixture()
def sms_context(app):
    channel = app.extensions["sms"]
    context = WorkerContext(
        settings=channel.settings,
        database=channel.database,
        outbox=channel.outbox,
        sender=None,  # a sweep sends nothing
        language_of=channel.language_of,
    )
    yield context
    context.close()


def test_two_sweeps_at_once_queue_each_lost_row_once(sms_context, redis_client):
    outbox = sms_context.outbox
    ids = [outbox.enqueue("help", f"07123{n:05d}", {}).id for n in range(200)]
    queue = Queue("sms", connection=redis_client)
    queue.empty()  # Redis lost every job: only the sweeper can put them back
    long_ago = utcnow() - dt.timedelta(hours=1)
    with sms_context.database.session() as session:
        session.execute(update(SmsMessage).values(enqueued_at=long_ago, next_attempt_at=long_ago))

    results = _twice_at_once(lambda: sweep(sms_context))

    assert sum(result.requeued for result in results) == 200
    # One sweep held the lease: one kick (a job claims batches of them, and kicks on while full).
    [job] = queue.jobs
    assert job.func_name == KICK_JOB
    with sms_context.database.session() as session:
        assert session.scalar(select(func.count()).where(SmsMessage.enqueued_at > long_ago)) == len(ids)


def test_a_lease_has_one_holder_and_only_its_holder_releases_it(redis_client):
    with lease(redis_client, "job", ttl_s=5) as first:
        assert first is not None
        with lease(redis_client, "job", ttl_s=5) as second:
            assert second is None
        # A holder whose lease expired and was taken over cannot free the successor's lease.
        redis_client.delete("lease:job")
        successor = try_lease(redis_client, "job", ttl_s=5)
        assert successor is not None
    assert redis_client.get("lease:job") == successor.token.encode()
    assert first.extend() is False and successor.extend() is True


def test_two_audit_drainers_at_once_write_each_event_once(app, redis_client):
    from audit.drain import Drainer, drain_client
    from audit.trail import STREAM
    from audit.verify import verify_chain
    from records.audit import AuditRecord

    trail = app.extensions["audit"]
    for start in range(0, 1500, 500):
        trail.record_many("backend", [{"operation": "op", "n": n} for n in range(start, start + 500)])
    url = app.extensions["settings"].queue_url
    database = app.extensions["database"]
    drainers = [Drainer(drain_client(url), database, batch=100) for _ in range(2)]
    pending = iter(drainers)

    def drain_until_empty() -> int:
        drainer = next(pending)
        written = 0
        while redis_client.xlen(STREAM):
            written += drainer.drain_once()
        return written

    results = _twice_at_once(drain_until_empty)
    with database.session() as session:
        stored = session.scalar(select(func.count()).select_from(AuditRecord))
        distinct = session.scalar(select(func.count(func.distinct(AuditRecord.stream_id))))
    assert sum(results) == stored == distinct == 1500
    assert verify_chain(database, app.extensions["redis"]).ok


def test_two_purges_at_once_purge_each_record_once(app, redis_client):
    from audit.drain import Drainer, drain_client
    from audit.purge import purge
    from audit.verify import verify_chain
    from records.audit import AuditCheckpoint

    app.extensions["audit"].record_many("backend", [{"operation": "op", "n": n} for n in range(300)])
    database = app.extensions["database"]
    Drainer(drain_client(app.extensions["settings"].queue_url), database).drain_all()
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=400)

    results = _twice_at_once(lambda: purge(database, redis_client, 365, app.extensions["audit"], now=later))

    assert sorted(result.purged for result in results) == [0, 300]
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1
    assert verify_chain(database, app.extensions["redis"]).ok


def test_two_sweeps_at_once_without_the_lease_queue_each_lost_row_once(sms_context, redis_client):
    """The lease is only a saving: a sweep that outlived it (or whose holder was killed and whose
    lease expired) may run beside the next one, and each row still moves once."""
    from sms.worker import _sweep_rows

    ids = [sms_context.outbox.enqueue("help", f"07124{n:05d}", {}).id for n in range(200)]
    queue = Queue("sms", connection=redis_client)
    queue.empty()
    long_ago = utcnow() - dt.timedelta(hours=1)
    with sms_context.database.session() as session:
        session.execute(update(SmsMessage).where(SmsMessage.id.in_(ids[:100])).values(enqueued_at=long_ago))
        # the other half: claimed by a worker that died mid-batch
        session.execute(
            update(SmsMessage)
            .where(SmsMessage.id.in_(ids[100:]))
            .values(status=SENDING, sending_at=long_ago, claim_token="dead-batch", attempts=1)
        )
        session.execute(update(SmsMessage).values(next_attempt_at=long_ago))

    results = _twice_at_once(lambda: _sweep_rows(sms_context))

    assert sum(r.requeued for r in results) == 100
    assert sum(r.stuck_requeued for r in results) == 100
    assert 1 <= queue.count <= 2  # a kick from each sweep that found rows
    assert {job.func_name for job in queue.jobs} == {KICK_JOB}
    with sms_context.database.session() as session:
        history = session.scalar(
            select(func.count())
            .select_from(SmsStatusChange)
            .where(SmsStatusChange.detail.like("worker lost%"))
        )
    assert history == 100


@pytest.mark.parametrize("answer", [SENT, DELIVERED])
def test_a_row_its_batch_records_while_a_sweep_looks_at_it_stays_recorded(
    sms_context, redis_client, monkeypatch, answer
):
    """The race that lost an SMS: the sweep reads a row `sending` for too long; before it writes,
    the row's (slow, not dead) batch records the provider's answer, and its delivery report may be
    applied too. The sweep must leave the row alone, not put it back to `queued` where, holding a
    provider id, no batch would ever claim it again."""
    import sms.worker as worker_module

    row_id = sms_context.outbox.enqueue("help", "0712500001", {}).id
    long_ago = utcnow() - dt.timedelta(hours=1)
    with sms_context.database.session() as session:
        session.execute(
            update(SmsMessage)
            .where(SmsMessage.id == row_id)
            .values(status=SENDING, sending_at=long_ago, claim_token="slow-batch", attempts=1)
        )
    queue = Queue("sms", connection=redis_client)
    queue.empty()
    read = worker_module._stale_rows

    def read_then_the_batch_answers(*args):
        stale = read(*args)
        with sms_context.database.session() as other:  # the batch's own transaction, committed
            other.execute(
                update(SmsMessage)
                .where(SmsMessage.id == row_id, SmsMessage.claim_token == "slow-batch")
                .values(status=answer, provider_message_id="ATXid_slow", claim_token=None)
            )
        return stale

    monkeypatch.setattr(worker_module, "_stale_rows", read_then_the_batch_answers)
    result = sweep(sms_context)

    assert result.stuck_requeued == 0
    with sms_context.database.session() as session:
        row = session.get(SmsMessage, row_id)
        assert (row.status, row.provider_message_id) == (answer, "ATXid_slow")
    assert queue.count == 0  # not sent a second time either


def test_a_sweep_lease_left_by_a_killed_worker_holds_the_others_back_a_few_intervals(
    sms_context, redis_client
):
    from sms.worker import SWEEP_LEASE, sweep_lease_ttl_s

    interval = sms_context.settings.sms_sweep_interval_s
    assert try_lease(redis_client, SWEEP_LEASE, sweep_lease_ttl_s(interval)) is not None  # then SIGKILL
    assert redis_client.pttl(f"lease:{SWEEP_LEASE}") <= max(10_000, 3 * interval * 1000)
    assert sweep_lease_ttl_s(2) == 10 and sweep_lease_ttl_s(10) == 30  # the drill's, production's
