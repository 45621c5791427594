"""The worker in this process against the sandbox over real HTTP: render in the citizen's language,
opt-out, statusCode judging, retries, the double-send guard and the sweeper."""

from __future__ import annotations

import datetime as dt
import threading
import time

import requests
from sqlalchemy import select, update

from gateway.africastalking.sender import AfricasTalkingSender, ProviderConfig
from records.sms import SENDING, SmsMessage, SmsOptOut, SmsStatusChange, utcnow
from sms.outbox import KICK_JOB
from sms.worker import WorkerContext, send_batch, start_batch, sweep
from stand_ins.at_sandbox.testing import set_faults
from tests.sms_channel.conftest import drain, rows

PARAMS = {"reference": "ECZ-7K3Q9P", "service": {"en": "Birth certificate", "sw": "Cheti cha Kuzaliwa"}}


def received(sandbox, phone: str | None = None) -> list[dict]:
    params = {"phone": phone} if phone else {}
    return requests.get(f"{sandbox.url}/sandbox/messages", params=params, timeout=5).json()


def history(database, message_id: int) -> list[str]:
    with database.session() as session:
        return list(
            session.scalars(
                select(SmsStatusChange.status)
                .where(SmsStatusChange.message_id == message_id)
                .order_by(SmsStatusChange.id)
            )
        )


def test_sends_and_records_message_id_cost_and_history(app, channel, worker, sandbox):
    queued = channel.outbox.enqueue("application_submitted", "0712345678", PARAMS, dedupe_key="e1")
    assert send_batch(worker, queued.id) == 1
    [message] = rows(channel.database)
    [sms] = received(sandbox)
    assert message.status == "sent" and message.attempts == 1
    assert message.provider_message_id == sms["id"] and message.cost == "KES 0.8000"
    assert message.language == "en" and "ECZ-7K3Q9P" in message.body and "Birth certificate" in message.body
    assert sms["to"] == "+254712345678" and sms["message"] == message.body
    assert (message.segments, message.encoding) == (sms["segments"], sms["encoding"]) == (1, "GSM-7")
    assert history(channel.database, message.id) == ["queued", "sending", "sent"]
    # Every state change is in the tamper-evident trail too, with the cost and no phone number.
    trail = [
        {k.decode(): v.decode() for k, v in fields.items()}
        for _, fields in app.extensions["redis"].xrange("audit:events")
        if fields[b"kind"] == b"sms"
    ]
    assert [e["status"] for e in trail] == ["queued", "sending", "sent"]
    assert trail[-1]["cost"] == "KES 0.8000" and "+254712345678" not in str(trail)
    # The row's job run again (a duplicate RQ job, a re-run): nothing is sent twice.
    assert send_batch(worker, queued.id) == 0
    assert len(received(sandbox)) == 1


def test_renders_in_the_language_the_citizen_chose_on_ussd(app, channel, worker, sandbox):
    app.extensions["hops"].store.set_language("+254712345678", "sw")
    queued = channel.outbox.enqueue("application_submitted", "0712345678", PARAMS)
    send_batch(worker, queued.id)
    [message] = rows(channel.database)
    assert message.language == "sw" and "Cheti cha Kuzaliwa" in message.body


def test_one_job_sends_a_batch_of_due_rows(channel, worker, sandbox):
    ids = [channel.outbox.enqueue("help", f"07123456{n:02d}", {}).id for n in range(30)]
    assert send_batch(worker, ids[-1]) == 20  # SMS_BATCH_SIZE, its own row first
    statuses = {r.id: r.status for r in rows(channel.database)}
    assert statuses[ids[-1]] == "sent"
    assert list(statuses.values()).count("sent") == 20
    drain(worker)
    assert len(received(sandbox)) == 30


def test_opt_out_stops_non_essential_messages_only(channel, worker, sandbox):
    with channel.database.session() as session:
        session.add(SmsOptOut(phone="+254712345678"))
    welcome = channel.outbox.enqueue("registration_welcome", "0712345678", {"name": "Wanjiku"})
    submitted = channel.outbox.enqueue("application_submitted", "0712345678", PARAMS)
    other = channel.outbox.enqueue("registration_welcome", "0722000000", {"name": "Otieno"})
    drain(worker)
    statuses = {r.id: r.status for r in rows(channel.database)}
    assert statuses == {welcome.id: "opted_out", submitted.id: "sent", other.id: "sent"}
    assert sorted(m["to"] for m in received(sandbox)) == ["+254712345678", "+254722000000"]


def test_permanent_failure_fails_at_once_with_the_reason(channel, worker, sandbox):
    set_faults(sandbox.url, {"recipient_codes": {"+254712345678": 406}})
    channel.outbox.enqueue("help", "0712345678", {})
    drain(worker)
    [message] = rows(channel.database)
    assert (message.status, message.attempts, message.last_error) == ("failed", 1, "UserInBlacklist")


def test_transient_failures_are_retried_with_backoff_then_sent(channel, worker, sandbox):
    set_faults(sandbox.url, {"fail_next": 2})
    queued = channel.outbox.enqueue("help", "0712345678", {})
    send_batch(worker, queued.id)
    [message] = rows(channel.database)
    # retried later than it failed (not against the clock now: the backoff is milliseconds here)
    assert message.status == "queued" and message.next_attempt_at > message.updated_at
    assert "InternalServerError" in message.last_error or "provider error" in message.last_error
    drain(worker)
    [message] = rows(channel.database)
    assert (message.status, message.attempts) == ("sent", 3)
    assert history(channel.database, message.id) == [
        "queued",
        "sending",
        "queued",
        "sending",
        "queued",
        "sending",
        "sent",
    ]
    assert len(received(sandbox)) == 1


def test_transient_failures_give_up_after_max_attempts(channel, worker, sandbox):
    set_faults(sandbox.url, {"http_status": 503})
    channel.outbox.enqueue("help", "0712345678", {})
    drain(worker)
    [message] = rows(channel.database)
    assert message.status == "failed" and message.attempts == 5
    assert message.last_error.startswith("gave up after 5 attempts")


def test_a_row_left_sending_with_a_provider_id_is_not_sent_again(channel, worker, sandbox):
    queued = channel.outbox.enqueue("help", "0712345678", {})
    old = utcnow() - dt.timedelta(seconds=5)
    with channel.database.session() as session:
        session.execute(
            update(SmsMessage)
            .where(SmsMessage.id == queued.id)
            .values(status=SENDING, sending_at=old, attempts=1, provider_message_id="ATXid_known", body="x")
        )
    assert send_batch(worker, queued.id) == 0
    result = sweep(worker)
    assert result.recovered_sent == 1 and result.stuck_requeued == 0
    assert rows(channel.database)[0].status == "sent"
    assert received(sandbox) == []


def test_a_row_stuck_sending_without_a_provider_id_is_sent_again_by_the_sweeper(channel, worker, sandbox):
    queued = channel.outbox.enqueue("help", "0712345678", {})
    with channel.database.session() as session:
        session.execute(
            update(SmsMessage)
            .where(SmsMessage.id == queued.id)
            .values(status=SENDING, sending_at=utcnow() - dt.timedelta(seconds=5), attempts=1)
        )
    assert sweep(worker).stuck_requeued == 1
    drain(worker)
    [message] = rows(channel.database)
    assert (message.status, message.attempts) == ("sent", 2)
    assert len(received(sandbox)) == 1


def test_the_sweeper_enqueues_rows_whose_job_was_lost(channel, worker, redis_client):
    from rq import Queue

    queued = channel.outbox.enqueue("help", "0712345678", {})
    queue = Queue("sms", connection=redis_client)
    queue.empty()
    with channel.database.session() as session:
        session.execute(
            update(SmsMessage)
            .where(SmsMessage.id == queued.id)
            .values(
                enqueued_at=utcnow() - dt.timedelta(seconds=5),
                next_attempt_at=utcnow() - dt.timedelta(seconds=5),
            )
        )
    assert sweep(worker).requeued == 1
    [job] = queue.jobs
    assert job.func_name == KICK_JOB
    assert sweep(worker).requeued == 0  # not again until SMS_REQUEUE_AFTER_S has passed
    assert queue.count == 1


def test_the_simulator_shows_new_sms_for_its_phone(channel, worker, sandbox):
    from sms.phone_inbox import PhoneInbox, sms_box

    channel.outbox.enqueue("help", "0712345678", {}, dedupe_key="before")
    drain(worker)
    inbox = PhoneInbox("+254712345678", sandbox.url)
    assert inbox.available and inbox.new_messages() == []
    channel.outbox.enqueue("help", "0712345678", {}, dedupe_key="after")
    channel.outbox.enqueue("help", "0722000000", {}, dedupe_key="someone else")
    drain(worker)
    [message] = inbox.wait_for_messages(2, quiet_after_s=0.2)
    box = sms_box(message)
    assert box.startswith("╔") and "HELP" in box.upper()
    assert PhoneInbox("+254712345678", "http://127.0.0.1:9").available is False


def wait_for(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_a_job_returns_once_its_batch_is_claimed_and_the_batch_is_sent_behind_it(channel, worker, sandbox):
    set_faults(sandbox.url, {"latency_ms": 400})
    ids = [channel.outbox.enqueue("help", f"07123456{n:02d}", {}).id for n in range(5)]
    started = time.monotonic()
    assert start_batch(worker, ids[0]) == 5
    assert time.monotonic() - started < 0.4  # the provider has not answered yet
    assert {r.status for r in rows(channel.database)} == {SENDING}
    assert wait_for(lambda: {r.status for r in rows(channel.database)} == {"sent"})
    assert sorted(m["to"] for m in received(sandbox)) == sorted({r.phone for r in rows(channel.database)})
    assert start_batch(worker, ids[0]) == 0  # its job again: nothing claimed, nothing sent twice


def test_a_worker_never_has_more_rows_on_their_way_than_it_has_send_threads(app, channel, sandbox):
    from dataclasses import replace

    set_faults(sandbox.url, {"latency_ms": 200})
    at_provider = sandbox.app.extensions["at_sandbox"].faults  # .sleeping: sends held right now
    base = app.extensions["sms"]
    context = WorkerContext(
        settings=replace(base.settings, sms_send_threads=3),
        database=base.database,
        outbox=base.outbox,
        sender=AfricasTalkingSender(ProviderConfig(api_url=sandbox.url, timeout=(1.0, 2.0))),
        language_of=base.language_of,
    )
    peaks: list[int] = []
    watching = threading.Event()

    def watch() -> None:
        while not watching.is_set():
            peaks.append(at_provider.sleeping)
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        ids = [channel.outbox.enqueue("help", f"07123457{n:02d}", {}).id for n in range(7)]
        assert start_batch(context, ids[0]) == 3  # room for 3, though a batch may hold 20
        claimed = 3
        while claimed < 7:  # each call waits for room, then claims what there is room for
            queued = [r.id for r in rows(channel.database) if r.status == "queued"]
            claimed += start_batch(context, queued[0])
    finally:
        context.close()  # waits for every batch on its way
        watching.set()
        watcher.join()
    assert max(peaks) == 3
    assert [r.status for r in rows(channel.database)] == ["sent"] * 7
    assert len(received(sandbox)) == 7


def test_answers_for_rows_taken_back_meanwhile_are_not_recorded(channel, worker):
    """A batch slow enough for the sweeper to take a row back (its worker looked dead): the
    provider's late answers land only on the rows still claimed by that batch."""
    from records.sms import QUEUED
    from sms.sending import OutcomeKind, SendOutcome
    from sms.worker import claim, record

    ids = [channel.outbox.enqueue("help", f"07123458{n:02d}", {}).id for n in range(3)]
    token, claimed = claim(worker)
    assert sorted(row.id for row in claimed) == ids
    with channel.database.session() as session:
        session.execute(
            update(SmsMessage).where(SmsMessage.id == ids[0]).values(status=QUEUED, claim_token=None)
        )
    answers = [
        (row, SendOutcome(OutcomeKind.ACCEPTED, f"ATXid_late_{row.id}", "KES 0.8000", 101, "Success"))
        for row in claimed
    ]
    record(worker, token, answers)
    by_id = {row.id: row for row in rows(channel.database)}
    assert (by_id[ids[0]].status, by_id[ids[0]].provider_message_id) == ("queued", None)
    assert [(by_id[i].status, by_id[i].provider_message_id) for i in ids[1:]] == [
        ("sent", f"ATXid_late_{i}") for i in ids[1:]
    ]
    assert history(channel.database, ids[0]) == ["queued", "sending"]
    assert history(channel.database, ids[1]) == ["queued", "sending", "sent"]
