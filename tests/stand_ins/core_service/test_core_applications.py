from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from stand_ins.core_service.models import Application, WebhookEvent
from stand_ins.core_service.references import ALPHABET, new_reference, normalise_reference
from tests.stand_ins.core_service.conftest import ADMIN, PHONE, PIN, apply, register
from tests.support import wait_until

REFERENCE = re.compile(r"^ECZ-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}$")


def _count(app, model) -> int:
    with app.extensions["core"].session_factory() as db:
        return db.scalar(select(func.count()).select_from(model))


def test_reference_alphabet_has_no_ambiguous_characters():
    assert not set("0O1IL") & set(ALPHABET)
    assert all(REFERENCE.match(new_reference()) for _ in range(200))
    assert normalise_reference(" ecz 7k3q9p ") == "ECZ-7K3Q9P"
    assert normalise_reference("7K3Q9P") == "ECZ-7K3Q9P"
    assert normalise_reference("ECZ-7K3Q0P") is None


def test_create_application(client, citizen, person):
    response = apply(client)
    assert response.status_code == 201
    body = response.json
    assert REFERENCE.match(body["reference"])
    assert body["status"] == "submitted"
    assert body["fee_kes"] == 1050
    assert body["payment_status"] == "unpaid"
    # name and ID are filled from the citizen's record; the ID stays masked
    assert body["answers"] == {
        "purpose": "employment",
        "county": "Nairobi",
        "full_name": f"{person['first_name']} {person['last_name']}",
        "national_id": "*****" + person["national_id"][-3:],
    }
    assert [h["status"] for h in body["history"]] == ["submitted"]


def test_prefilled_fields_come_from_the_record_whatever_the_client_sends(client, citizen, person):
    forged = {
        "purpose": "travel",
        "county": "Mombasa",
        "full_name": "Someone Else",
        "national_id": "11111111",
    }
    body = apply(client, answers=forged).json
    assert body["answers"]["full_name"] == f"{person['first_name']} {person['last_name']}"
    assert body["answers"]["national_id"] == "*****" + person["national_id"][-3:]


BAD_FORMATS = [
    (
        "birth_cert_copy",
        {"full_name": "2580", "date_of_birth": "01/05/2001", "county": "Kisumu"},
        "full_name",
    ),
    (
        "birth_cert_copy",
        {"full_name": "Akinyi Odhiambo", "date_of_birth": "01/05/1899", "county": "Kisumu"},
        "date_of_birth",
    ),
    ("dl_renewal", {"licence_number": "12-AB-XYZ", "period": "1y"}, "licence_number"),
    (
        "business_name_registration",
        {"search_reference": "XX-1234", "business_name": "Duka", "nature": "retail", "county": "Nakuru"},
        "search_reference",
    ),
    (
        "marriage_cert_copy",
        {"certificate_number": "12345", "spouse_name": "Otieno 2", "marriage_date": "01/01/2001"},
        "spouse_name",
    ),
]


@pytest.mark.parametrize(("service", "answers", "field"), BAD_FORMATS)
def test_fields_are_checked_by_their_format(client, citizen, service, answers, field):
    response = apply(client, service_code=service, answers=answers)
    assert (response.status_code, response.json["error"], response.json["field"]) == (
        422,
        "invalid_field",
        field,
    )


def test_same_idempotency_key_gives_one_application(client, app, citizen):
    first = apply(client, key="confirm-abc-123")
    second = apply(client, key="confirm-abc-123")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.json["reference"] == second.json["reference"]
    assert _count(app, Application) == 1
    assert _count(app, WebhookEvent) == 1  # one application.submitted, not two


def test_same_key_with_a_different_body_is_409(client, citizen):
    apply(client, key="confirm-abc-123")
    response = apply(client, key="confirm-abc-123", answers={"purpose": "travel", "county": "Nairobi"})
    assert (response.status_code, response.json["error"]) == (409, "idempotency_key_reused")


def test_idempotency_key_is_required(client, citizen):
    body = {"phone": PHONE, "pin": PIN, "service_code": "good_conduct", "answers": {}}
    response = client.post("/applications", json=body)
    assert (response.status_code, response.json["error"]) == (400, "idempotency_key_required")


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"purpose": "employment"}, "county"),
        ({"purpose": "bribery", "county": "Nairobi"}, "purpose"),
        ({"purpose": "employment", "county": "Nb"}, "county"),
        ({"purpose": "employment", "county": "Nairobi", "colour": "red"}, "colour"),
    ],
)
def test_bad_answers_are_422_and_cost_no_pin_attempt(client, citizen, answers, field):
    response = apply(client, answers=answers, pin="0000")
    assert (response.status_code, response.json["error"], response.json["field"]) == (
        422,
        "invalid_field",
        field,
    )
    verify = client.post("/citizens/verify-pin", json={"phone": PHONE, "pin": "0000"})
    assert verify.json["attempts_left"] == 2


def test_wrong_pin_creates_nothing(client, app, citizen):
    response = apply(client, pin="0000")
    assert (response.status_code, response.json["error"]) == (401, "wrong_pin")
    assert _count(app, Application) == 0


def test_a_choice_can_set_the_fee_and_dates_are_normalised(client, citizen):
    dl = apply(
        client,
        key="k-dl-000001",
        service_code="dl_renewal",
        answers={"licence_number": "DL123456", "period": "3y"},
    )
    assert dl.json["fee_kes"] == 3050
    birth = apply(
        client,
        key="k-birth-0001",
        service_code="birth_cert_copy",
        answers={"full_name": "Wanjiku Kamau", "date_of_birth": "01/05/1990", "county": "Nyeri"},
    )
    assert birth.json["answers"]["date_of_birth"] == "1990-05-01"


def test_list_is_newest_first_and_paged(client, citizen):
    references = [apply(client, key=f"list-key-{i:04d}").json["reference"] for i in range(3)]
    listing = client.get("/applications", query_string={"phone": PHONE}).json
    assert [a["reference"] for a in listing["applications"]] == references[::-1]
    assert listing["total"] == 3
    page = client.get("/applications", query_string={"phone": PHONE, "limit": 1, "offset": 1}).json
    assert [a["reference"] for a in page["applications"]] == [references[1]]
    assert client.get("/applications", query_string={"phone": PHONE, "limit": "x"}).status_code == 400


def _get(client, reference, phone=PHONE):
    return client.get(f"/applications/{reference}", query_string={"phone": phone})


def test_get_by_reference_typed_loosely(client, citizen):
    reference = apply(client).json["reference"]
    loose = reference.replace("-", " ").lower()
    assert _get(client, loose).json["reference"] == reference
    missing = _get(client, "ECZ-222222")
    assert (missing.status_code, missing.json["error"]) == (404, "application_not_found")


def test_reading_an_application_needs_the_callers_phone(client, citizen):
    reference = apply(client).json["reference"]
    for query in ({}, {"phone": "0712345678"}):
        response = client.get(f"/applications/{reference}", query_string=query)
        assert (response.status_code, response.json["field"]) == (400, "phone")


def _move(client, reference, status, headers=ADMIN, note=None):
    return client.post(
        f"/admin/applications/{reference}/status", json={"status": status, "note": note}, headers=headers
    )


def test_admin_needs_a_token(client, citizen):
    reference = apply(client).json["reference"]
    assert _move(client, reference, "under_review", headers={}).status_code == 401
    assert _move(client, reference, "under_review", headers={"Authorization": "Basic abc"}).status_code == 401
    forbidden = _move(client, reference, "under_review", headers={"Authorization": "Bearer wrong"})
    assert (forbidden.status_code, forbidden.json["error"]) == (403, "forbidden")


def test_status_workflow_records_history(client, citizen):
    reference = apply(client).json["reference"]
    for status in ("under_review", "approved", "ready_for_collection", "collected"):
        response = _move(client, reference, status, note=f"now {status}")
        assert response.status_code == 200, response.json
    history = _get(client, reference).json["history"]
    assert [h["status"] for h in history] == [
        "submitted",
        "under_review",
        "approved",
        "ready_for_collection",
        "collected",
    ]
    assert history[-1]["old_status"] == "ready_for_collection"
    assert history[-1]["note"] == "now collected"


def test_illegal_moves_are_409(client, citizen):
    reference = apply(client).json["reference"]
    skip = _move(client, reference, "approved")
    assert (skip.status_code, skip.json["error"], skip.json["allowed"]) == (
        409,
        "illegal_transition",
        ["under_review"],
    )
    _move(client, reference, "under_review")
    _move(client, reference, "rejected")
    assert _move(client, reference, "approved").status_code == 409  # rejected is final
    assert _move(client, reference, "lost").status_code == 400


def _pay(client, reference, phone=PHONE):
    return client.post(f"/applications/{reference}/payments", json={"phone": phone})


def _wait_for_settlement(client, payment_id: str) -> dict:
    assert wait_until(lambda: client.get(f"/payments/{payment_id}").json["status"] != "pending"), (
        "the payment never settled"
    )
    return client.get(f"/payments/{payment_id}").json


# Long enough that the second request always comes before the prompt is answered, on a busy machine too.
@pytest.mark.core_config(PAYMENT_DELAY_S=1.0)
def test_payment_goes_pending_then_paid(client, citizen):
    reference = apply(client).json["reference"]
    started = _pay(client, reference)
    assert started.status_code == 201
    payment = started.json
    assert (payment["status"], payment["amount_kes"], payment["phone"]) == ("pending", 1050, PHONE)
    again = _pay(client, reference)
    assert (again.status_code, again.json["id"]) == (200, payment["id"])  # one STK push at a time
    settled = _wait_for_settlement(client, payment["id"])
    assert settled["status"] == "paid"
    assert re.match(r"^[A-Z0-9]{10}$", settled["mpesa_receipt"])
    assert _get(client, reference).json["payment_status"] == "paid"
    paid_twice = _pay(client, reference)
    assert (paid_twice.status_code, paid_twice.json["error"]) == (409, "already_paid")


def test_payment_fails_for_the_test_phone_and_can_be_retried(client, body):
    failing = "+254700000000"  # CORE_PAYMENT_FAIL_PHONES
    assert register(client, body, phone=failing).status_code == 201
    reference = apply(client, phone=failing).json["reference"]
    payment = _pay(client, reference, failing).json
    failed = _wait_for_settlement(client, payment["id"])
    assert failed["status"] == "failed"
    assert failed["failure_reason"] == "Request cancelled by user"
    assert _get(client, reference, failing).json["payment_status"] == "unpaid"
    retry = _pay(client, reference, failing)
    assert retry.status_code == 201 and retry.json["id"] != payment["id"]


def test_a_payment_needs_the_callers_phone(client, citizen):
    reference = apply(client).json["reference"]
    response = client.post(f"/applications/{reference}/payments", json={})
    assert (response.status_code, response.json["field"]) == (400, "phone")


def test_free_service_has_no_payment(client, citizen):
    body = {"service_code": "kra_pin", "answers": {"income_source": "business", "county": "Kisumu"}}
    application = apply(client, **body).json
    assert (application["fee_kes"], application["payment_status"]) == (0, "not_required")
    response = _pay(client, application["reference"])
    assert (response.status_code, response.json["error"]) == (409, "no_fee_due")


def _feedback(client, **body):
    return client.post("/feedback", json={"phone": PHONE, "rating": 4} | body)


def test_feedback_about_a_service_or_an_application(client, citizen):
    about_service = _feedback(client, service_code="passport", comment="Fast and easy")
    assert about_service.status_code == 201
    assert about_service.json["service_code"] == "passport"
    reference = apply(client).json["reference"]
    about_application = _feedback(client, application_reference=reference, rating=5)
    assert about_application.status_code == 201
    assert about_application.json["service_code"] == "good_conduct"


@pytest.mark.parametrize(
    "body",
    [
        {"rating": 0, "service_code": "passport"},
        {"rating": 6, "service_code": "passport"},
        {"rating": "5", "service_code": "passport"},
        {"rating": True, "service_code": "passport"},
        {"comment": "x" * 141, "service_code": "passport"},
        {},
        {"service_code": "passport", "application_reference": "ECZ-222222"},
    ],
)
def test_bad_feedback_is_400(client, body):
    response = _feedback(client, **body)
    assert (response.status_code, response.json["error"]) == (400, "invalid_request")


def test_feedback_on_someone_elses_application_is_404(client, citizen):
    reference = apply(client).json["reference"]
    response = client.post(
        "/feedback", json={"phone": "+254799000111", "rating": 1, "application_reference": reference}
    )
    assert response.status_code == 404
    assert _feedback(client, service_code="nope").status_code == 404


def test_bad_requests_are_json_never_html(client):
    assert (
        client.post("/citizens", data="not json", content_type="application/json").json["error"]
        == "invalid_json"
    )
    assert client.post("/citizens", json=[1, 2]).json["error"] == "invalid_json"
    assert client.get("/no/such/route").json["error"] == "not_found"
    assert client.delete("/services").status_code == 405
    too_big = client.post("/feedback", data="x" * 70_000, content_type="application/json")
    assert too_big.status_code == 413 and too_big.is_json
