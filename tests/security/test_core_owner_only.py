"""Someone else's application reference, attacked: a stranger who knows (or guesses) a reference
gets exactly what an unknown reference gets, byte for byte, from the core's API, from USSD Track and
Pay, and from SMS STATUS; and cannot start its payment, even replaying the owner's idempotency key."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests
from sqlalchemy import select

from records.sms import SmsMessage
from stand_ins.core_service.testing import CoreServer, unregistered_people
from tests.conftest import Dialler
from tests.stand_ins.core_service.conftest import GOOD_CONDUCT, core_config, registration

OWNER, STRANGER, NOBODY = "+254711600001", "+254711600002", "+254711600003"
PIN = "4826"
UNKNOWN = "ECZ-222222"


@pytest.fixture
def core(tmp_path) -> Iterator[CoreServer]:
    with CoreServer(core_config(tmp_path)) as server:
        for phone, person in zip((OWNER, STRANGER), unregistered_people(server.url, 2), strict=True):
            body = registration(person, phone, PIN)
            assert requests.post(f"{server.url}/citizens", json=body, timeout=10).status_code == 201
        yield server


@pytest.fixture
def reference(core: CoreServer) -> str:
    response = requests.post(
        f"{core.url}/applications",
        json={"phone": OWNER, "pin": PIN} | GOOD_CONDUCT,
        headers={"Idempotency-Key": "owner-apply-0001"},
        timeout=10,
    )
    assert response.status_code == 201
    return response.json()["reference"]


def _seen(response: requests.Response) -> tuple[int, bytes, dict[str, str]]:
    """Everything a caller can see of an answer, but the clock."""
    headers = {k.lower(): v for k, v in response.headers.items() if k.lower() != "date"}
    return response.status_code, response.content, headers


def _read(core: CoreServer, reference: str, phone: str) -> requests.Response:
    return requests.get(f"{core.url}/applications/{reference}", params={"phone": phone}, timeout=10)


def _pay(core: CoreServer, reference: str, phone: str, key: str) -> requests.Response:
    return requests.post(
        f"{core.url}/applications/{reference}/payments",
        json={"phone": phone},
        headers={"Idempotency-Key": key},
        timeout=10,
    )


def test_reading_someone_elses_application_is_answered_as_an_unknown_reference(core, reference):
    unknown = _seen(_read(core, UNKNOWN, STRANGER))
    assert unknown[0] == 404
    for phone in (STRANGER, NOBODY):
        for typed in (reference, reference.lower().replace("-", "")):
            assert _seen(_read(core, typed, phone)) == unknown
    assert _read(core, reference, OWNER).status_code == 200


def test_paying_someone_elses_application_is_answered_as_an_unknown_reference(core, reference):
    unknown = _seen(_pay(core, UNKNOWN, STRANGER, "stranger-pay-0001"))
    assert unknown[0] == 404
    assert _seen(_pay(core, reference, STRANGER, "stranger-pay-0002")) == unknown
    owners = _pay(core, reference, OWNER, "owner-pay-0001")
    assert owners.status_code == 201
    # the owner's key replayed by a stranger: refused before any replay
    assert _seen(_pay(core, reference, STRANGER, "owner-pay-0001")) == unknown
    application = _read(core, reference, OWNER).json()
    assert application["latest_payment"]["phone"] == OWNER
    assert application["latest_payment"]["id"] == owners.json()["id"]


def test_rating_someone_elses_application_is_answered_as_an_unknown_reference(core, reference):
    def rate(ref: str) -> requests.Response:
        body = {"phone": STRANGER, "rating": 1, "application_reference": ref}
        return requests.post(f"{core.url}/feedback", json=body, timeout=10)

    assert _seen(rate(reference)) == _seen(rate(UNKNOWN))


# ---- through the gateway --------------------------------------------------------------------------


@pytest.fixture
def gateway(settings, core):
    from app import create_app

    application = create_app(replace(settings, core_url=core.url))
    application.extensions["database"].upgrade()
    application.config["TESTING"] = True
    yield application
    application.extensions["core_client"].close()


_sessions = itertools.count(1)


def _dial(gateway, phone: str, *keys: str) -> str:
    return Dialler(gateway.test_client(), phone=phone, session_id=f"owner-{next(_sessions)}").dial(*keys)


def test_ussd_track_and_pay_show_a_stranger_what_an_unknown_reference_shows(gateway, core, reference):
    assert "Status: Submitted" in _dial(gateway, OWNER, "3", reference)
    tracked = _dial(gateway, STRANGER, "3", reference)
    assert tracked == _dial(gateway, STRANGER, "3", UNKNOWN)
    assert "No application has this reference." in tracked
    assert "Certificate of Good Conduct" not in tracked and "1,050" not in tracked

    paid = _dial(gateway, STRANGER, "5", "2", reference)
    assert paid == _dial(gateway, STRANGER, "5", "2", UNKNOWN)
    assert "M-Pesa" not in paid
    assert _read(core, reference, OWNER).json()["latest_payment"] is None


def _status_reply(gateway, phone: str, text: str) -> tuple[str, str]:
    form = {
        "id": f"ATMsg_owner_{next(_sessions)}",
        "from": phone,
        "to": "22384",
        "text": text,
        "date": "2026-11-28 10:00:00",
        "linkId": "",
        "networkCode": "63902",
    }
    assert gateway.test_client().post("/sms/africastalking/inbound", data=form).status_code == 200
    with gateway.extensions["database"].session() as session:
        query = select(SmsMessage).where(SmsMessage.phone == phone).order_by(SmsMessage.id.desc())
        message = session.scalars(query).first()
    return message.template, message.body


def test_sms_status_tells_a_stranger_what_an_unknown_reference_tells(gateway, reference):
    assert _status_reply(gateway, OWNER, f"STATUS {reference}")[0] == "status_reply"
    foreign = _status_reply(gateway, STRANGER, f"STATUS {reference}")
    assert foreign == _status_reply(gateway, STRANGER, f"STATUS {UNKNOWN}")
    assert foreign[0] == "status_not_found"
