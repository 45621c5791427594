from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from stand_ins.core_service.db import utcnow
from stand_ins.core_service.models import Citizen
from tests.stand_ins.core_service.conftest import PHONE, PIN, apply, people, register, registration


def test_register_returns_citizen_without_full_national_id(client, person, body):
    response = register(client, body)
    assert response.status_code == 201
    citizen = response.json
    assert citizen["phone"] == PHONE
    assert citizen["first_name"] == person["first_name"]
    assert citizen["national_id_masked"] == "*****" + person["national_id"][-3:]
    assert person["national_id"] not in response.get_data(as_text=True)
    assert "pin" not in citizen and "pin_hash" not in citizen


def test_a_phone_registers_once(client, citizen):
    response = register(client, registration(people(client)[0]))
    assert response.status_code == 409
    assert response.json["error"] == "already_registered"
    assert response.json["field"] == "phone"


def test_registration_replay_with_same_key_is_200_not_duplicate(client, body):
    first = client.post("/citizens", json=body, headers={"Idempotency-Key": "reg-key-0001"})
    second = client.post("/citizens", json=body, headers={"Idempotency-Key": "reg-key-0001"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json == second.json


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"phone": "0712345678"}, "phone"),
        ({"national_id": "12345"}, "national_id"),
        ({"national_id": 12345678}, "national_id"),
        ({"pin": "12a4"}, "pin"),
        ({"pin": 1234}, "pin"),
        ({"first_name": "W4njiku"}, "first_name"),
        ({"date_of_birth": "2015-01-01"}, "date_of_birth"),
        ({"date_of_birth": "01/05/1990"}, "date_of_birth"),
    ],
)
def test_invalid_registration_is_400_naming_the_field(client, body, changes, field):
    response = register(client, body, **changes)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    assert response.json["field"] == field


def test_find_citizen_by_phone(client, citizen):
    assert client.get("/citizens", query_string={"phone": PHONE}).json["id"] == citizen["id"]
    missing = client.get("/citizens", query_string={"phone": "+254700111222"})
    assert (missing.status_code, missing.json["error"]) == (404, "citizen_not_found")
    assert client.get("/citizens", query_string={"phone": "0712"}).status_code == 400


def _verify(client, pin):
    return client.post("/citizens/verify-pin", json={"phone": PHONE, "pin": pin})


def test_verify_pin(client, citizen):
    response = _verify(client, PIN)
    assert response.status_code == 200
    assert response.json["valid"] is True
    assert response.json["citizen"]["id"] == citizen["id"]


def test_three_wrong_pins_lock_the_account(client, app, citizen):
    assert _verify(client, "0000").json == {
        "error": "wrong_pin",
        "message": "The PIN is not correct.",
        "attempts_left": 2,
    }
    assert _verify(client, "0000").json["attempts_left"] == 1
    locked = _verify(client, "0000")
    assert locked.status_code == 423
    assert locked.json["error"] == "account_locked"
    assert locked.json["retry_after"] == 900
    assert locked.headers["Retry-After"] == "900"
    # the right PIN does not open a locked account, and applying is refused too
    assert _verify(client, PIN).status_code == 423
    assert apply(client).status_code == 423

    # fifteen minutes later (moved in the database rather than slept)
    with app.extensions["core"].session_factory() as db:
        row = db.scalar(select(Citizen))
        row.locked_until = utcnow() - timedelta(seconds=1)
        db.commit()
    assert _verify(client, PIN).status_code == 200


def test_right_pin_resets_the_wrong_pin_count(client, citizen):
    _verify(client, "0000")
    _verify(client, "0000")
    assert _verify(client, PIN).status_code == 200
    assert _verify(client, "0000").json["attempts_left"] == 2


def test_unknown_phone_verify_is_404(client):
    response = client.post("/citizens/verify-pin", json={"phone": "+254700111222", "pin": "1234"})
    assert response.status_code == 404


def test_pin_is_stored_as_argon2_hash(app, citizen):
    with app.extensions["core"].session_factory() as db:
        assert db.scalar(select(Citizen.pin_hash)).startswith("$argon2id$")


def test_logs_hold_no_personal_data(client, person, body, caplog):
    caplog.set_level(logging.DEBUG)
    register(client, body)
    client.post("/citizens/verify-pin", json={"phone": PHONE, "pin": "9999"})
    apply(client)
    assert caplog.records, "expected some log lines"
    for secret in (PHONE, person["national_id"], person["first_name"], person["last_name"], PIN, "9999"):
        assert secret not in caplog.text
