"""`POST /events/application-status`: the core service's signed webhook, one SMS per event."""

from __future__ import annotations

import json
import time

import pytest

from sms.outbox import submitted_key
from tests.sms_channel.conftest import WEBHOOK_SECRET, drain, rows, signed_post


def event(**fields) -> dict:
    """An event shaped exactly as the reference core service sends it (core_service/webhooks.py)."""
    body = {
        "event_id": "0b7a5f0e-1",
        "type": "application.status_changed",
        "occurred_at": "2026-11-28T10:00:00+00:00",
        "reference": "ECZ-7K3Q9P",
        "phone": "+254712345678",
        "service_code": "good-conduct",
        "old_status": "submitted",
        "new_status": "under_review",
        "note": None,
        "payment": None,
    }
    body.update(fields)
    return body


def test_a_good_signature_queues_the_sms(client, channel, worker, lookup):
    answer = signed_post(client, event())
    assert answer.status_code == 202 and answer.json["queued"] is True and answer.json["duplicate"] is False
    drain(worker)
    [message] = rows(channel.database)
    assert message.template == "application_status_changed"
    assert message.dedupe_key == "0b7a5f0e-1:application_status_changed"
    assert "Under review" in message.body and "Certificate of Good Conduct" in message.body


@pytest.mark.parametrize(
    "signature",
    ["sha256=" + "0" * 64, "", "md5=abc", "t=1,v1=", "t=,v1=" + "0" * 64, "not-even-close"],
)
def test_a_bad_signature_is_refused_with_401_and_nothing_queued(client, channel, signature):
    answer = signed_post(client, event(), signature=signature or " ")
    assert answer.status_code == 401 and answer.json["error"] == "bad_signature"
    assert rows(channel.database) == []


def test_a_body_signed_with_another_secret_or_changed_after_signing_is_refused(client, channel):
    assert signed_post(client, event(), secret="other-secret").status_code == 401
    from gateway.events import signature_of

    signature = signature_of(json.dumps(event()).encode(), WEBHOOK_SECRET, "0b7a5f0e-1", int(time.time()))
    assert signed_post(client, event(new_status="approved"), signature=signature).status_code == 401
    assert rows(channel.database) == []


def test_the_same_event_twice_sends_one_sms(client, channel, worker, sandbox, lookup):
    import requests

    first = signed_post(client, event(), at=time.time() - 2)
    retry = signed_post(client, event())  # the core signs every attempt afresh
    assert first.status_code == retry.status_code == 202
    assert retry.json["duplicate"] is True and retry.json["message"] == first.json["message"]
    drain(worker)
    assert len(rows(channel.database)) == 1
    assert len(requests.get(f"{sandbox.url}/sandbox/messages", timeout=5).json()) == 1


def test_submitted_shares_its_key_with_the_ussd_journeys_sms(client, channel, lookup):
    journey = channel.outbox.enqueue(
        "application_submitted",
        "0712345678",
        {"reference": "ECZ-7K3Q9P", "service": "Certificate of Good Conduct"},
        dedupe_key=submitted_key("ECZ-7K3Q9P"),
    )
    answer = signed_post(
        client, event(type="application.submitted", event_id="ev-sub", new_status="submitted")
    )
    assert answer.status_code == 202 and answer.json["duplicate"] is True
    assert answer.json["message"] == journey.id


def test_service_name_in_the_event_wins_and_both_languages_are_kept(app, client, channel, worker):
    app.extensions["hops"].store.set_language("+254712345678", "sw")
    name = {"en": "Birth certificate", "sw": "Cheti cha Kuzaliwa"}
    signed_post(client, event(type="application.submitted", service_name=name))
    drain(worker)
    [message] = rows(channel.database)
    assert message.params["service"] == name and "Cheti cha Kuzaliwa" in message.body


@pytest.mark.parametrize(
    ("payment", "template"),
    [
        ({"id": "p1", "status": "paid", "amount_kes": 1050}, "payment_paid"),
        ({"status": "failed", "amount_kes": 1050}, "payment_failed"),
    ],
)
def test_payment_settled(client, channel, worker, payment, template):
    answer = signed_post(client, event(type="payment.settled", event_id="ev-pay", payment=payment))
    assert answer.status_code == 202
    drain(worker)
    [message] = rows(channel.database)
    assert message.template == template and "1,050" in message.body


def test_events_that_need_no_sms_are_acknowledged(client, channel):
    answer = signed_post(
        client, event(type="payment.settled", payment={"status": "pending", "amount_kes": 10})
    )
    assert answer.status_code == 200 and answer.json["queued"] is False
    answer = signed_post(client, event(type="citizen.registered"))
    assert answer.status_code == 200 and answer.json["reason"] == "type citizen.registered needs no SMS"
    assert rows(channel.database) == []


@pytest.mark.parametrize(
    ("fields", "status", "reason"),
    [
        ({"reference": None}, 400, "missing reference"),
        ({"phone": None}, 400, "missing phone"),
        ({"new_status": None}, 400, "missing new_status"),
        ({"phone": "+255712345678"}, 422, "not served"),
        ({"new_status": "lost_in_the_post"}, 422, "unknown status"),
    ],
)
def test_unusable_events_get_a_4xx_with_a_reason(client, channel, fields, status, reason):
    answer = signed_post(client, event(**fields))
    assert answer.status_code == status
    assert reason in answer.json["reason"]
    assert rows(channel.database) == []


def test_liberal_field_names_are_accepted(client, channel):
    body = {
        "id": "ev-alt",
        "eventType": "application.status_changed",
        "applicationReference": "ECZ-7K3Q9P",
        "msisdn": "254712345678",
        "status": "approved",
        "serviceName": "Passport application",
    }
    answer = signed_post(client, body)
    assert answer.status_code == 202
    assert rows(channel.database)[0].params == {
        "reference": "ECZ-7K3Q9P",
        "service": "Passport application",
        "status": "approved",
    }


def test_not_json(client):
    from gateway.events import signature_of

    signature = signature_of(b"nope", WEBHOOK_SECRET, "ev-1", int(time.time()))
    answer = client.post(
        "/events/application-status", data=b"nope", headers={"X-Signature": signature, "X-Event-Id": "ev-1"}
    )
    assert answer.status_code == 400 and answer.json["reason"].startswith("the body is not JSON")


def test_the_signature_check_refuses_without_a_secret_and_compares_the_exact_bytes():
    from gateway.events import signature_of, signature_problem

    body = b'{"event_id":"e1"}'
    now = 1_800_000_000
    header = signature_of(body, "s3cret", "e1", now)
    assert header.startswith(f"t={now},v1=") and len(header.rpartition("v1=")[2]) == 64
    assert signature_problem(body, header, "e1", "s3cret", now=now) is None
    assert (
        signature_problem(
            body, header.upper().replace("T=", "t=").replace("V1=", "v1="), "e1", "s3cret", now=now
        )
        is None
    )
    assert signature_problem(body + b" ", header, "e1", "s3cret", now=now) == "bad_signature"
    assert signature_problem(body, header, "e2", "s3cret", now=now) == "bad_signature"  # the id is signed
    assert signature_problem(body, header, "e1", "other", now=now) == "bad_signature"
    assert signature_problem(body, None, "e1", "s3cret", now=now) == "bad_signature"
    assert signature_problem(body, header, "e1", "s3cret", now=now + 301) == "stale"
    # an unset secret must not turn the check off: a forger could sign with the empty key
    assert signature_problem(body, signature_of(body, "", "e1", now), "e1", "", now=now) == "bad_signature"
