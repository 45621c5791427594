"""Paying to the paybill with the reference as account: Safaricom's C2B validation and confirmation
reach the application through the core's payment record, once per TransID, and nobody without
the URL's token can record a payment."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from stand_ins.core_service import create_app
from stand_ins.core_service.config import InsecureSettings
from stand_ins.core_service.models import PaybillTransaction, Payment, WebhookEvent
from tests.stand_ins.core_service.conftest import PHONE, apply, core_config

TOKEN = "dev-c2b-token"


def c2b(reference: str, amount: str = "1050.00", trans_id: str = "RKTQDM7W6S", **changes: str) -> dict:
    """A C2B body as Safaricom sends it (MSISDN masked, as it is these days)."""
    return {
        "TransactionType": "Pay Bill",
        "TransID": trans_id,
        "TransTime": "20250301093000",
        "TransAmount": amount,
        "BusinessShortCode": "222222",
        "BillRefNumber": reference,
        "InvoiceNumber": "",
        "OrgAccountBalance": "",
        "ThirdPartyTransID": "",
        "MSISDN": "2547 ***** 678",
        "FirstName": "WANJIKU",
    } | changes


def confirm(client, body: dict, token: str | None = TOKEN):
    query = {"token": token} if token is not None else {}
    return client.post("/mpesa/c2b/confirmation", json=body, query_string=query)


def validate(client, body: dict):
    return client.post("/mpesa/c2b/validation", json=body, query_string={"token": TOKEN})


def count(app, model) -> int:
    with app.extensions["core"].session_factory() as db:
        return db.scalar(select(func.count()).select_from(model))


@pytest.fixture
def reference(client, citizen) -> str:
    response = apply(client)
    assert response.status_code == 201
    return response.json["reference"]


def application(client, reference: str) -> dict:
    return client.get(f"/applications/{reference}", query_string={"phone": PHONE}).json


@pytest.mark.parametrize("token", [None, "", "dev-c2b-toke", "DEV-C2B-TOKEN", "dev-admin-token"])
def test_a_forged_confirmation_without_the_token_records_nothing(client, app, reference, token):
    response = confirm(client, c2b(reference), token=token)
    assert response.status_code == 403 and response.json["error"] == "forbidden"
    assert count(app, PaybillTransaction) == count(app, Payment) == 0
    assert application(client, reference)["payment_status"] == "unpaid"
    validation = client.post(
        "/mpesa/c2b/validation", json=c2b(reference), query_string={"token": token or ""}
    )
    assert validation.status_code == 403


def test_validation_accepts_only_an_unpaid_reference_on_this_paybill(client, reference):
    assert validate(client, c2b(reference)).json == {"ResultCode": "0", "ResultDesc": "Accepted"}
    assert validate(client, c2b(reference.lower().replace("-", ""))).json["ResultCode"] == "0"
    assert validate(client, c2b("ECZ-ZZZZZZ")).json["ResultCode"] == "C2B00012"
    assert validate(client, c2b(reference, amount="10.50")).json["ResultCode"] == "C2B00013"
    assert validate(client, c2b(reference, BusinessShortCode="333333")).json["ResultCode"] == "C2B00015"


def test_a_confirmed_paybill_payment_pays_the_application_once(client, app, reference):
    first = confirm(client, c2b(reference.lower()))
    assert (first.status_code, first.json["ResultCode"]) == (200, "0")
    shown = application(client, reference)
    assert shown["payment_status"] == "paid"
    payment = shown["latest_payment"]
    assert (payment["method"], payment["status"], payment["amount_kes"]) == ("paybill", "paid", 1050)
    assert payment["mpesa_receipt"] == "RKTQDM7W6S"
    # Safaricom repeats a confirmation: acknowledged, nothing added
    assert confirm(client, c2b(reference)).json["ResultCode"] == "0"
    assert count(app, Payment) == count(app, PaybillTransaction) == 1
    with app.extensions["core"].session_factory() as db:
        settled = [
            json.loads(e.body) for e in db.scalars(select(WebhookEvent)) if e.type == "payment.settled"
        ]
    assert len(settled) == 1 and settled[0]["payment"]["status"] == "paid"
    assert settled[0]["reference"] == reference and settled[0]["payment"]["method"] == "paybill"
    # now paid: the paybill refuses more, the prompt too
    assert validate(client, c2b(reference, trans_id="X2")).json["ResultCode"] == "C2B00012"
    again = client.post(f"/applications/{reference}/payments", json={"phone": PHONE})
    assert (again.status_code, again.json["error"]) == (409, "already_paid")


def test_part_payments_add_up_to_the_fee(client, reference):
    confirm(client, c2b(reference, amount="500.00", trans_id="PART1"))
    assert application(client, reference)["payment_status"] == "unpaid"
    confirm(client, c2b(reference, amount="550", trans_id="PART2"))
    assert application(client, reference)["payment_status"] == "paid"


def test_a_payment_to_an_unknown_reference_is_kept_for_an_officer(client, app, reference):
    assert confirm(client, c2b("ECZ-ZZZZZZ", trans_id="LOST1")).json["ResultCode"] == "0"
    assert confirm(client, c2b(reference, trans_id="ELSE1", BusinessShortCode="999999")).status_code == 200
    with app.extensions["core"].session_factory() as db:
        outcomes = {t.trans_id: t.outcome for t in db.scalars(select(PaybillTransaction))}
    assert outcomes == {"LOST1": "unmatched", "ELSE1": "other_paybill"}
    assert count(app, Payment) == 0 and application(client, reference)["payment_status"] == "unpaid"


def test_a_prompt_still_pending_when_the_paybill_pays_is_not_charged_again(tmp_path):
    app = create_app(core_config(tmp_path, PAYMENT_DELAY_S=0.3))
    try:
        client = app.test_client()
        person = client.get("/dev/people", query_string={"unregistered": 1}).json[0]
        assert client.post("/citizens", json=person | {"phone": PHONE, "pin": "4826"}).status_code == 201
        reference = apply(client).json["reference"]
        pending = client.post(f"/applications/{reference}/payments", json={"phone": PHONE}).json
        assert pending["status"] == "pending"
        confirm(client, c2b(reference))
        deadline = time.monotonic() + 5
        while (prompt := client.get(f"/payments/{pending['id']}").json)["status"] == "pending":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert (prompt["status"], prompt["failure_reason"]) == ("failed", "Application already paid")
        assert application(client, reference)["payment_status"] == "paid"
    finally:
        app.extensions["core"].close()


def test_production_refuses_a_weak_c2b_token(tmp_path):
    keys = {
        "ENV": "production",
        "ADMIN_TOKEN": "a" + "b1c2d3e4f5" * 4,
        "WEBHOOK_SECRET": "w" + "9z8y7x6v5u" * 4,
        "ID_HASH_KEY": "k" + "q1r2s3t4u5" * 4,
        "PIN_HASH_PROFILE": "default",
    }
    with pytest.raises(InsecureSettings) as refused:
        create_app(core_config(tmp_path, **keys, C2B_TOKEN=TOKEN))
    assert "CORE_C2B_TOKEN is a development value" in refused.value.problems
