"""Jobs follow batches, not messages: a burst of rows brings one `send_due` job, and no row is left
without a job that can see it — the races of the kick marker, each written as the attack."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import replace

import pytest
import requests
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import update

import sms.outbox as outbox_module
import sms.worker as worker_module
from common.jobs import SimpleContextWorker
from records.sms import SmsMessage, utcnow
from sms.outbox import KICK_JOB, KICK_TTL_MS, ROW_JOB
from sms.sending import transient
from sms.worker import WorkerContext, claim, record, sweep
from stand_ins.at_sandbox.testing import set_faults
from tests.sms_channel.conftest import rows, worker_context
from tests.support import wait_until


def queue_of(redis_client) -> Queue:
    return Queue("sms", connection=redis_client)


class CountingWorker(SimpleContextWorker):
    """The SMS worker's RQ worker, counting the jobs it ran and the ones that failed."""

    ran = failed = 0

    def perform_job(self, job, queue) -> bool:
        done = super().perform_job(job, queue)
        self.ran += 1
        self.failed += not done
        return done


def run_jobs(context, redis_client, *, with_scheduler: bool = False) -> int:
    """Run the SMS queue's jobs in this process until it is empty (the jobs a job kicks too); how
    many ran, none failing. The batches they started are still on their way when this returns."""
    worker = CountingWorker([queue_of(redis_client)], connection=redis_client, context=context)
    worker.work(burst=True, with_scheduler=with_scheduler, logging_level="WARNING")
    assert worker.failed == 0
    return worker.ran


def received_per_phone(sandbox) -> Counter:
    return Counter(m["to"] for m in requests.get(f"{sandbox.url}/sandbox/messages", timeout=5).json())


def all_sent(database) -> bool:
    return {r.status for r in rows(database)} == {"sent"}


@pytest.fixture()
def roomy_worker(channel, sandbox):
    """A worker context with room for two whole batches (SMS_BATCH_SIZE is 20 here), so a claim's
    size is the batch's, not what the sends in flight left."""
    context = worker_context(channel, sandbox.url)
    context = WorkerContext(
        **{**{f: getattr(context, f) for f in ("database", "outbox", "sender", "language_of", "trail")}},
        settings=replace(channel.settings, sms_send_threads=40),
    )
    yield context
    context.close()


def test_a_burst_of_rows_brings_one_job_and_a_full_batch_kicks_the_next(
    channel, roomy_worker, sandbox, redis_client
):
    worker = roomy_worker
    phones = [f"+2547123456{n:02d}" for n in range(30)]
    for phone in phones:
        channel.outbox.enqueue("help", phone, {})
    queue = queue_of(redis_client)
    [job] = queue.jobs  # 30 rows, one job: the marker was set by the first row's kick
    assert job.func_name == KICK_JOB and job.id.startswith("sms-kick-")

    # SMS_BATCH_SIZE is 20 here: the first job claims 20, finds its batch full and kicks again;
    # the second claims the other 10 and, with room to spare, kicks nobody.
    assert run_jobs(worker, redis_client) == 2
    assert queue.count == 0
    assert wait_until(lambda: all_sent(channel.database), timeout=10)
    assert received_per_phone(sandbox) == Counter({phone: 1 for phone in phones})


def test_a_row_committed_after_the_claim_read_it_brings_a_job_of_its_own(
    channel, worker, sandbox, redis_client, monkeypatch
):
    """The marker is cleared before the claim: a row whose commit the claim could not see finds
    it clear and enqueues a job. (Cleared after the claim, that row's kick would find the marker
    of the running job set, enqueue nothing, and wait for the sweeper.)"""
    channel.outbox.enqueue("help", "0712345600", {})
    claim_rows = worker_module._claim
    late: list[int] = []

    def claim_then_a_row_commits(*args, **kwargs):
        claimed = claim_rows(*args, **kwargs)
        if not late:  # the claim's transaction is over; this row was not in it
            late.append(channel.outbox.enqueue("help", "0712345601", {}).id)
        return claimed

    monkeypatch.setattr(worker_module, "_claim", claim_then_a_row_commits)
    assert run_jobs(worker, redis_client) == 2  # the first row's job, then the late row's own
    assert wait_until(lambda: all_sent(channel.database), timeout=10)
    assert received_per_phone(sandbox) == Counter({"+254712345600": 1, "+254712345601": 1})


def test_a_row_committed_while_the_marker_is_being_cleared_is_claimed_once(
    channel, worker, sandbox, redis_client, monkeypatch
):
    """Between the marker's clearing and the claim: the row kicks a job *and* is in the claim.
    The extra job finds nothing and the row goes once."""
    channel.outbox.enqueue("help", "0712345600", {})
    clearing = channel.outbox.claiming

    def cleared_then_a_row_commits():
        clearing()
        if len(rows(channel.database)) == 1:
            channel.outbox.enqueue("help", "0712345601", {})

    monkeypatch.setattr(channel.outbox, "claiming", cleared_then_a_row_commits)
    assert run_jobs(worker, redis_client) == 2
    assert wait_until(lambda: all_sent(channel.database), timeout=10)
    assert received_per_phone(sandbox) == Counter({"+254712345600": 1, "+254712345601": 1})
    with channel.database.session() as session:
        batches = {m.sending_at for m in session.query(SmsMessage)}
    assert len(batches) == 1, "both rows went in the first job's batch"


def test_a_marker_whose_job_was_lost_holds_back_kicks_only_until_it_expires(
    channel, redis_client, monkeypatch
):
    monkeypatch.setattr(outbox_module, "KICK_TTL_MS", 150)
    channel.outbox.enqueue("help", "0712345600", {})
    queue = queue_of(redis_client)
    queue.empty()  # the job is gone (a worker killed right after taking it); its marker is not
    assert 0 < redis_client.pttl(channel.outbox.kick_key) <= 150
    channel.outbox.enqueue("help", "0712345601", {})
    assert queue.count == 0  # held back: a job is believed to be on its way
    assert wait_until(lambda: not redis_client.exists(channel.outbox.kick_key), timeout=5)
    channel.outbox.enqueue("help", "0712345602", {})
    [job] = queue.jobs
    assert job.func_name == KICK_JOB


def test_the_markers_lifetime_is_bounded_in_production_too(channel, redis_client):
    channel.outbox.enqueue("help", "0712345600", {})
    assert 0 < redis_client.pttl(channel.outbox.kick_key) <= KICK_TTL_MS <= 5000


def test_the_sweeper_kicks_for_lost_rows_even_with_a_marker_left_behind(
    channel, worker, sandbox, redis_client
):
    queued = channel.outbox.enqueue("help", "0712345600", {})
    queue = queue_of(redis_client)
    queue.empty()
    redis_client.set(channel.outbox.kick_key, b"1")  # a marker that will not expire on its own
    with channel.database.session() as session:
        long_ago = utcnow() - dt.timedelta(seconds=5)
        session.execute(
            update(SmsMessage)
            .where(SmsMessage.id == queued.id)
            .values(enqueued_at=long_ago, next_attempt_at=long_ago)
        )
    assert sweep(worker).requeued == 1
    [job] = queue.jobs
    assert job.func_name == KICK_JOB
    assert run_jobs(worker, redis_client) == 1
    assert wait_until(lambda: all_sent(channel.database), timeout=10)
    assert received_per_phone(sandbox) == Counter({"+254712345600": 1})


def test_a_job_redis_refused_leaves_no_marker_to_hold_back_the_next_kick(channel, redis_client, monkeypatch):
    import redis

    def refuse(*_args, **_kwargs):
        raise redis.ConnectionError("down (test)")

    with monkeypatch.context() as patched:
        patched.setattr(channel.outbox.queue, "enqueue", refuse)
        assert channel.outbox.enqueue("help", "0712345600", {}).created  # in SQL: the sweeper's now
    assert not redis_client.exists(channel.outbox.kick_key)
    channel.outbox.enqueue("help", "0712345601", {})
    assert queue_of(redis_client).count == 1


def test_a_starting_worker_kicks_whatever_the_marker_says(channel, redis_client):
    redis_client.set(channel.outbox.kick_key, b"1")
    assert channel.outbox.kick(force=True)
    [job] = queue_of(redis_client).jobs
    assert job.func_name == KICK_JOB


def test_a_job_queued_per_row_by_the_previous_release_still_sends_its_row(
    channel, worker, sandbox, redis_client
):
    """Jobs `sms.worker.send_sms(<id>)` left in Redis by an upgrade, and their scheduled retries."""
    queued = channel.outbox.enqueue("help", "0712345600", {})
    queue = queue_of(redis_client)
    queue.empty()
    queue.enqueue(ROW_JOB, queued.id, job_id=f"sms-{queued.id}", result_ttl=0)
    queue.enqueue(ROW_JOB, queued.id, job_id=f"sms-{queued.id}-1", result_ttl=0)  # and a stale retry
    assert run_jobs(worker, redis_client) == 2
    assert wait_until(lambda: all_sent(channel.database), timeout=10)
    assert received_per_phone(sandbox) == Counter({"+254712345600": 1})


def test_failures_in_one_record_schedule_one_kick_per_backoff_and_it_sends_them(
    channel, worker, sandbox, redis_client
):
    for n in range(5):
        channel.outbox.enqueue("help", f"07123456{n:02d}", {})
    queue_of(redis_client).empty()
    token, claimed = claim(worker)
    assert len(claimed) == 5
    record(worker, token, [(row, transient("InternalServerError", 500)) for row in claimed])
    registry = ScheduledJobRegistry(queue=queue_of(redis_client))
    [job_id] = registry.get_job_ids()  # five rows with the same backoff: one scheduled job
    assert queue_of(redis_client).fetch_job(job_id).func_name == KICK_JOB
    # RQ's scheduler moves it to the queue once due (never before the rows: RQ keeps whole
    # seconds, and cut down the kick would come up to a second early and claim nothing).
    assert wait_until(lambda: registry.get_jobs_to_schedule(int(time.time())), timeout=5)
    set_faults(sandbox.url, {})
    assert run_jobs(worker, redis_client, with_scheduler=True) == 1
    assert wait_until(lambda: all_sent(channel.database), timeout=10)
    assert sorted(r.attempts for r in rows(channel.database)) == [2] * 5
    assert sum(received_per_phone(sandbox).values()) == 5


@pytest.mark.parametrize("rows_due", [0, 3])
def test_a_job_with_room_to_spare_kicks_nobody(channel, worker, redis_client, rows_due):
    for n in range(rows_due):
        channel.outbox.enqueue("help", f"07123456{n:02d}", {})
    queue_of(redis_client).empty()
    assert worker_module.start_batch(worker) == rows_due
    assert queue_of(redis_client).count == 0
    assert not redis_client.exists(channel.outbox.kick_key)
