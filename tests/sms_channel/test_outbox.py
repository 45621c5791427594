"""Enqueue: the row first (once per dedupe key), then the RQ job by id; bad input refused first."""

from __future__ import annotations

import pytest
from rq import Queue
from sqlalchemy import select

from common.phones import InvalidPhoneNumber
from records.sms import SmsMessage, SmsStatusChange
from sms.outbox import KICK_JOB, submitted_key
from sms.templates import TemplateError
from tests.sms_channel.conftest import rows

PARAMS = {"reference": "ECZ-7K3Q9P", "service": "Certificate of Good Conduct"}


@pytest.mark.parametrize(
    "raw", ["0712345678", "712345678", "+254 712 345 678", "254712345678", "+254712345678", " 0712-345-678 "]
)
def test_every_common_kenyan_form_is_normalised(channel, raw):
    queued = channel.outbox.enqueue("application_submitted", raw, PARAMS, dedupe_key=f"k-{raw}")
    with channel.database.session() as session:
        assert session.get(SmsMessage, queued.id).phone == "+254712345678"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty or too long"),
        ("07123", "not a valid number"),
        ("hello", "not a phone number"),
        ("+255712345678", "numbers from TZ are not served"),
        ("+2547123456789012345678", "empty or too long"),
    ],
)
def test_invalid_numbers_are_refused_with_a_reason_before_anything_is_stored(
    channel, redis_client, raw, reason
):
    with pytest.raises(InvalidPhoneNumber) as refused:
        channel.outbox.enqueue("application_submitted", raw, PARAMS)
    assert reason in refused.value.reason
    assert rows(channel.database) == []
    assert Queue("sms", connection=redis_client).count == 0


def test_the_same_dedupe_key_queues_one_message_and_one_job(channel, redis_client):
    first = channel.outbox.enqueue(
        "application_submitted", "0712345678", PARAMS, dedupe_key=submitted_key("ecz-7k3q9p")
    )
    again = channel.outbox.enqueue(
        "application_submitted", "+254712345678", PARAMS, dedupe_key=submitted_key("ECZ-7K3Q9P")
    )
    assert first.created and not again.created
    assert again.id == first.id
    assert len(rows(channel.database)) == 1
    [job] = Queue("sms", connection=redis_client).jobs
    assert job.func_name == KICK_JOB


def test_only_the_templates_parameters_are_kept(channel):
    queued = channel.outbox.enqueue(
        "application_submitted", "0712345678", {**PARAMS, "pin": "1234", "national_id": "12345678"}
    )
    with channel.database.session() as session:
        message = session.get(SmsMessage, queued.id)
        history = session.scalars(
            select(SmsStatusChange.status).where(SmsStatusChange.message_id == queued.id)
        )
        assert message.params == PARAMS
        assert message.status == "queued" and message.body is None
        assert list(history) == ["queued"]


def test_a_missing_parameter_or_unknown_template_is_refused(channel):
    with pytest.raises(TemplateError):
        channel.outbox.enqueue("application_submitted", "0712345678", {"reference": "ECZ-7K3Q9P"})
    with pytest.raises(TemplateError):
        channel.outbox.enqueue("no_such_template", "0712345678", {})
    with pytest.raises(TemplateError):
        channel.outbox.enqueue("help", "0712345678", {}, lang="fr")
    assert rows(channel.database) == []


def test_a_message_stays_in_sql_when_redis_cannot_take_the_job(channel, redis_server, monkeypatch):
    import redis

    def refuse(*_args, **_kwargs):
        raise redis.ConnectionError("down (test)")

    monkeypatch.setattr(channel.outbox.connection, "pipeline", refuse)
    queued = channel.outbox.enqueue("help", "0712345678", {})
    assert queued.created
    assert [r.status for r in rows(channel.database)] == ["queued"]


def test_an_sms_effect_is_queued_once_and_a_bad_one_never_raises(channel):
    from menus.effects import SendSms

    sms = SendSms("help", "0712345678", {}, "sw", "journey:help:1")
    assert channel.outbox.notify(sms) is True
    assert channel.outbox.notify(sms) is False  # the same dedupe key: no second message
    assert channel.outbox.notify(SendSms("help", "not a phone", {}, "en", "journey:help:2")) is False
    assert channel.outbox.notify(SendSms("no_such_template", "0712345678", {}, "en", "x")) is False
    [row] = rows(channel.database)
    assert row.language == "sw" and row.dedupe_key == "journey:help:1"
