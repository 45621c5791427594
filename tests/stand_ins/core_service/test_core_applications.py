from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from stand_ins.core_service.models import Application, WebhookEvent
from stand_ins.core_service.references import ALPHABET, new_reference, normalise_reference
from tests.stand_ins.core_service.conftest import ADMIN, PHONE, PIN, apply
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


def test_create_application(client, citizen):
    response = apply(client)
    assert response.status_code == 201
    body = response.json
    assert REFERENCE.match(body["reference"])
    assert body["status"] == "submitted"
    assert body["fee_kes"] == 1050
    assert body["payment_status"] == "unpaid"
    assert body["answers"] == {"purpose": "employment", "county": "Nairobi"}
    assert [h["status"] for h in body["history"]] == ["submitted"]


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


def test_get_by_reference_typed_loosely(client, citizen):
    reference = apply(client).json["reference"]
    loose = reference.replace("-", " ").lower()
    assert client.get(f"/applications/{loose}").json["reference"] == reference
    missing = client.get("/applications/ECZ-222222")
    assert (missing.status_code, missing.json["error"]) == (404, "application_not_found")


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
    history = client.get(f"/applications/{reference}").json["history"]
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


def test_payment_goes_pending_then_paid(client, citizen):
    reference = apply(client).json["reference"]
    started = client.post(f"/applications/{reference}/payments", json={})
    assert started.status_code == 201
    payment = started.json
    assert (payment["status"], payment["amount_kes"], payment["phone"]) == ("pending", 1050, PHONE)
    again = client.post(f"/applications/{reference}/payments", json={})
    assert (again.status_code, again.json["id"]) == (200, payment["id"])  # one STK push at a time
    assert wait_until(lambda: client.get(f"/payments/{payment['id']}").json["status"] == "paid")
    settled = client.get(f"/payments/{payment['id']}").json
    assert re.match(r"^[A-Z0-9]{10}$", settled["mpesa_receipt"])
    assert client.get(f"/applications/{reference}").json["payment_status"] == "paid"
    paid_twice = client.post(f"/applications/{reference}/payments", json={})
    assert (paid_twice.status_code, paid_twice.json["error"]) == (409, "already_paid")


def test_payment_fails_for_the_test_phone_and_can_be_retried(client, citizen):
    reference = apply(client).json["reference"]
    payment = client.post(f"/applications/{reference}/payments", json={"phone": "+254700000000"}).json
    assert wait_until(lambda: client.get(f"/payments/{payment['id']}").json["status"] == "failed")
    failed = client.get(f"/payments/{payment['id']}").json
    assert failed["failure_reason"] == "Request cancelled by user"
    assert client.get(f"/applications/{reference}").json["payment_status"] == "unpaid"
    retry = client.post(f"/applications/{reference}/payments", json={})
    assert retry.status_code == 201 and retry.json["id"] != payment["id"]


def test_free_service_has_no_payment(client, citizen):
    body = {"service_code": "kra_pin", "answers": {"income_source": "business", "county": "Kisumu"}}
    application = apply(client, **body).json
    assert (application["fee_kes"], application["payment_status"]) == (0, "not_required")
    response = client.post(f"/applications/{application['reference']}/payments", json={})
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
