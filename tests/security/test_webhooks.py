"""The core service's webhook and the JSON and form endpoints, attacked: a captured webhook posted
again, one older than five minutes, one signed the old way (body only) whose unsigned X-Event-Id is
swapped, one signed with the development secret in production; deeply nested JSON and absurd
numbers. Each gets a 4xx with a reason, never a 5xx, never a second SMS, never a traceback."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from gateway.events import signature_of
from records.sms import SmsMessage
from records.ussd import UssdSessionEnd

SECRET = "Hh4-webhook-secret-for-the-security-tests"


def event(event_id: str = "ev-sec-1", **fields) -> dict:
    body = {
        "event_id": event_id,
        "type": "application.status_changed",
        "reference": "ECZ-7K3Q9P",
        "phone": "+254712345678",
        "service_code": "good_conduct",
        "service_name": {"en": "Certificate of Good Conduct", "sw": "Cheti cha Maadili Mema"},
        "old_status": "submitted",
        "new_status": "under_review",
    }
    return body | fields


@pytest.fixture
def gateway(settings):
    from app import create_app

    app = create_app(replace(settings, webhook_secret=SECRET))
    app.extensions["database"].upgrade()
    return app


def post(app, body: bytes, event_id: str, signature: str):
    headers = {"Content-Type": "application/json", "X-Event-Id": event_id, "X-Signature": signature}
    return app.test_client().post("/events/application-status", data=body, headers=headers)


def messages(app) -> int:
    with app.extensions["database"].session() as db:
        return db.scalar(select(func.count()).select_from(SmsMessage))


def test_a_captured_webhook_posted_again_is_refused(gateway):
    body = json.dumps(event()).encode()
    signature = signature_of(body, SECRET, "ev-sec-1", int(time.time()))
    assert post(gateway, body, "ev-sec-1", signature).status_code == 202
    replayed = post(gateway, body, "ev-sec-1", signature)
    assert replayed.status_code == 409 and replayed.json["error"] == "replayed"
    assert messages(gateway) == 1


def test_the_cores_own_retry_signed_afresh_is_acknowledged_without_a_second_sms(gateway):
    body = json.dumps(event()).encode()
    first = post(gateway, body, "ev-sec-1", signature_of(body, SECRET, "ev-sec-1", int(time.time()) - 3))
    retry = post(gateway, body, "ev-sec-1", signature_of(body, SECRET, "ev-sec-1", int(time.time())))
    assert (first.status_code, retry.status_code) == (202, 202) and retry.json["duplicate"] is True
    assert messages(gateway) == 1


@pytest.mark.parametrize("age_s", [301, 3600, -301])
def test_a_stale_or_future_webhook_is_refused(gateway, age_s):
    body = json.dumps(event()).encode()
    answer = post(gateway, body, "ev-sec-1", signature_of(body, SECRET, "ev-sec-1", int(time.time()) - age_s))
    assert answer.status_code == 401 and answer.json["error"] == "stale"
    assert messages(gateway) == 0


def test_the_event_id_is_signed_so_it_cannot_be_swapped(gateway):
    """Sent once with a fresh id to get a second SMS out of one signed body: refused."""
    body = json.dumps(event()).encode()
    signature = signature_of(body, SECRET, "ev-sec-1", int(time.time()))
    assert post(gateway, body, "ev-sec-2", signature).status_code == 401
    old_style = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert post(gateway, body, "ev-sec-1", old_style).status_code == 401
    # a body that names another event than the signed header
    other = json.dumps(event("ev-sec-9")).encode()
    mismatch = post(gateway, other, "ev-sec-1", signature_of(other, SECRET, "ev-sec-1", int(time.time())))
    assert mismatch.status_code == 400
    assert messages(gateway) == 0


def test_the_development_secret_signs_nothing_in_production(settings):
    from app import create_app
    from common.production import InsecureSettings

    with pytest.raises(InsecureSettings) as refused:
        create_app(replace(settings, gateway_env="production", webhook_secret="dev-webhook-secret"))
    assert "WEBHOOK_SECRET is a development value" in refused.value.problems


DEEP = b"[" * 30_000 + b"]" * 30_000  # under the 64 KiB body limit, far over the parser's depth


def test_deeply_nested_json_on_the_webhook_is_a_400(gateway, caplog):
    with caplog.at_level(logging.WARNING):
        answer = post(gateway, DEEP, "ev-deep", signature_of(DEEP, SECRET, "ev-deep", int(time.time())))
    assert answer.status_code == 400 and "nested too deeply" in answer.json["reason"]
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(
    "path", ["/api/v1/menus/ecitizen/draft/simulate", "/api/v1/tokens", "/api/v1/operators"]
)
def test_deeply_nested_json_on_the_console_api_is_never_a_500(as_role, path, caplog):
    admin = as_role("admin")
    with caplog.at_level(logging.WARNING):
        answer = admin.client.post(
            path, data=DEEP, headers={"Content-Type": "application/json", "X-CSRF-Token": admin.csrf}
        )
    assert answer.status_code == 400 and answer.json["error"] == "bad_request"
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text


@pytest.mark.parametrize(
    "number",
    ["9" * 3800, "9" * 12, str(2**63), "-5", "1e999"],
    ids=["3800 digits", "over 2^31", "2^63", "negative", "not an integer"],
)
def test_absurd_numbers_on_the_session_end_endpoint_are_never_a_500_nor_a_traceback(
    gateway, number, caplog, capfd
):
    form = {
        "sessionId": f"ATUid_absurd_{len(number)}_{number[:1]}",
        "serviceCode": "*384*123#",
        "phoneNumber": "+254712345678",
        "networkCode": "63902",
        "status": "Success",
        "durationInMillis": number,
        "hopsCount": number if len(number) < 1000 else "",  # the form holds 4 KiB at most
    }
    with caplog.at_level(logging.INFO):
        answer = gateway.test_client().post("/ussd/africastalking/events", data=form)
    assert answer.status_code == 200 and answer.json["recorded"] is True
    with gateway.extensions["database"].session() as db:
        record = db.scalar(select(UssdSessionEnd))
    assert record.duration_ms is None and record.hops_count is None  # not a real session's count
    assert "Traceback" not in caplog.text + "".join(capfd.readouterr())


def test_absurd_numbers_in_a_signed_event_are_a_4xx(gateway):
    head = b'{"event_id": "ev-num", "type": "payment.settled", "payment": {"status": "paid", "amount_kes": '
    huge = head + b"9" * 5000 + b"}}"
    answer = post(gateway, huge, "ev-num", signature_of(huge, SECRET, "ev-num", int(time.time())))
    assert 400 <= answer.status_code < 500
