"""`POST /sms/africastalking/delivery`: every report kept, idempotent, forward only, early ones applied
when the send is recorded."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from records.sms import SmsDeliveryReport, SmsStatusChange
from sms.worker import send_batch
from tests.sms_channel.conftest import rows


def report(client, message_id: str, status: str, key: str | None = None, **extra: str):
    form = {
        "id": message_id,
        "status": status,
        "phoneNumber": "+254712345678",
        "networkCode": "63902",
        **extra,
    }
    return client.post("/sms/africastalking/delivery" + (f"?key={key}" if key else ""), data=form)


@pytest.fixture()
def sent(channel, worker):
    """One message sent through the sandbox; its provider message id."""
    queued = channel.outbox.enqueue("help", "0712345678", {})
    send_batch(worker, queued.id)
    return rows(channel.database)[0].provider_message_id


def reports_kept(channel) -> int:
    with channel.database.session() as session:
        return session.scalar(select(func.count()).select_from(SmsDeliveryReport))


def test_success_marks_the_message_delivered_and_a_repeat_changes_nothing(client, channel, sent):
    first = report(client, sent, "Success")
    assert first.status_code == 200 and first.json == {"recorded": True, "outcome": "applied"}
    again = report(client, sent, "Success")
    assert again.status_code == 200 and again.json["outcome"] == "kept"
    [message] = rows(channel.database)
    assert message.status == "delivered" and message.final_at is not None
    assert reports_kept(channel) == 2


def test_status_only_moves_forward(client, channel, sent):
    assert report(client, sent, "Buffered").json["outcome"] == "kept"  # already sent
    assert report(client, sent, "Success").json["outcome"] == "applied"
    assert report(client, sent, "Sent").json["outcome"] == "kept"
    assert report(client, sent, "Failed", failureReason="DeliveryFailure").json["outcome"] == "kept"
    assert rows(channel.database)[0].status == "delivered"


@pytest.mark.parametrize("status", ["Failed", "Rejected", "AbsentSubscriber", "Expired"])
def test_failure_statuses_fail_the_message_with_the_reason(client, channel, sent, status):
    assert report(client, sent, status, failureReason="UserIsInactive").json["outcome"] == "applied"
    [message] = rows(channel.database)
    assert (message.status, message.last_error) == ("failed", "UserIsInactive")


def test_a_report_the_worker_missed_is_applied_by_the_sweeper(client, channel, worker, monkeypatch):
    """The report commits while the worker records the send (a race): the sweeper applies it."""
    import sms.worker
    from sms.sending import OutcomeKind, SendOutcome

    monkeypatch.setattr(
        worker.sender,
        "send",
        lambda phone, body: SendOutcome(OutcomeKind.ACCEPTED, "ATXid_race", "KES 0.8000", 101),
    )
    monkeypatch.setattr(sms.worker, "apply_pending", lambda session, ids=None, trail=None: 0)
    queued = channel.outbox.enqueue("help", "0712345678", {})
    assert report(client, "ATXid_race", "Success").json["outcome"] == "pending"
    send_batch(worker, queued.id)
    assert rows(channel.database)[0].status == "sent"
    monkeypatch.undo()
    assert sms.worker.sweep(worker).reports_applied == 1
    assert rows(channel.database)[0].status == "delivered"


def test_an_early_report_is_applied_when_the_worker_records_the_send(client, channel, worker, monkeypatch):
    from sms.sending import OutcomeKind, SendOutcome

    monkeypatch.setattr(
        worker.sender,
        "send",
        lambda phone, body: SendOutcome(OutcomeKind.ACCEPTED, "ATXid_fixed", "KES 0.8000", 101),
    )
    queued = channel.outbox.enqueue("help", "0712345678", {})
    assert report(client, "ATXid_fixed", "Submitted").json["outcome"] == "pending"
    assert report(client, "ATXid_fixed", "Success").json["outcome"] == "pending"
    send_batch(worker, queued.id)
    [message] = rows(channel.database)
    assert message.status == "delivered"
    with channel.database.session() as session:
        assert session.scalar(select(func.count()).where(SmsDeliveryReport.applied_at.is_(None))) == 0


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"status": "Success"}, "missing id"),
        ({"id": "ATXid_1"}, "missing status"),
        ({"id": "", "status": "Success"}, "empty id"),
        ({"id": "ATXid_1", "status": "Delivered"}, "unknown status 'Delivered'"),
        ({"id": "ATXid_1", "status": "Success", "retryCount": "x"}, "retryCount is not a number"),
        ({"id": "x" * 65, "status": "Success"}, "id over 64 characters"),
    ],
)
def test_bad_reports_get_a_4xx_with_a_reason(client, channel, form, reason):
    answer = client.post("/sms/africastalking/delivery", data=form)
    assert answer.status_code == 400
    assert reason in answer.json["reason"]
    assert reports_kept(channel) == 0


def test_json_is_not_a_report(client):
    answer = client.post("/sms/africastalking/delivery", json={"id": "ATXid_1", "status": "Success"})
    assert answer.status_code == 400 and "content type" in answer.json["reason"]


def test_the_callback_secret_is_checked_when_configured(settings, sent):
    from dataclasses import replace

    from app import create_app

    client = create_app(replace(settings, at_callback_secret="s3cret")).test_client()
    assert report(client, sent, "Success").status_code == 403
    assert report(client, sent, "Success", key="wrong").status_code == 403
    assert report(client, sent, "Success", key="s3cret").status_code == 200


def test_an_applied_report_leaves_the_same_trace_on_every_database(app, client, channel, sent):
    """On PostgreSQL the usual report is one statement, on SQLite several: the same rows either way."""
    assert report(client, sent, "Failed", failureReason="UserIsInactive", retryCount="2").status_code == 200
    [message] = rows(channel.database)
    with channel.database.session() as session:
        history = session.execute(
            select(SmsStatusChange.status, SmsStatusChange.detail)
            .where(SmsStatusChange.message_id == message.id)
            .order_by(SmsStatusChange.id)
        ).all()
        kept = session.scalars(select(SmsDeliveryReport)).one()
    assert [tuple(entry) for entry in history] == [
        ("queued", "help"),
        ("sending", "attempt 1"),
        ("sent", "Sent (101)"),
        ("failed", "report Failed: UserIsInactive"),
    ]
    assert (kept.provider_message_id, kept.status, kept.failure_reason, kept.retry_count) == (
        sent,
        "Failed",
        "UserIsInactive",
        2,
    )
    assert (kept.phone, kept.network_code, kept.message_id) == ("+254712345678", "63902", message.id)
    assert kept.applied_at is not None and kept.applied_at == kept.received_at == message.final_at
    events = [
        {k.decode(): v.decode() for k, v in fields.items()}
        for _, fields in app.extensions["redis"].xrange("audit:events")
        if fields[b"kind"] == b"sms"
    ]
    assert (events[-1]["status"], events[-1]["reason"]) == ("failed", "UserIsInactive")
