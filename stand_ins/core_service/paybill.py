"""M-Pesa paybill (C2B): a citizen whose M-Pesa prompt never came pays to the paybill with the
application's reference as the account number; Safaricom tells the core through the validation and
confirmation URLs registered for the paybill, and the payment is recorded against the reference.

    POST /mpesa/c2b/validation?token=<CORE_C2B_TOKEN>     may the payment go ahead?
    POST /mpesa/c2b/confirmation?token=<CORE_C2B_TOKEN>   the payment went through

Both take Safaricom's C2B body (`TransID`, `TransAmount`, `BusinessShortCode`, `BillRefNumber`,
`MSISDN`, `TransTime`, …). Validation answers `{"ResultCode": "0"}` to accept, or a C2B rejection
code: `C2B00012` (no application has this reference, or it needs no payment), `C2B00013` (not a
whole positive amount), `C2B00015` (another paybill). Confirmation is always acknowledged with
`{"ResultCode": 0}` once it is recorded (the money has moved): exactly once per `TransID`, applied
to the application when the reference matches, kept as `unmatched` otherwise for an officer.
Safaricom signs nothing, so the URLs carry a secret token: a wrong or missing one is 403 and
nothing is recorded. In production the endpoints exist only when CORE_C2B_TOKEN is set.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from stand_ins.core_service import webhooks
from stand_ins.core_service.db import utcnow
from stand_ins.core_service.errors import ApiError
from stand_ins.core_service.models import Application, PaybillTransaction, Payment
from stand_ins.core_service.references import normalise_reference
from stand_ins.core_service.serialize import payment_json

log = logging.getLogger(__name__)
bp = Blueprint("paybill", __name__, url_prefix="/mpesa/c2b")

ACCEPTED = "0"
INVALID_ACCOUNT = "C2B00012"
INVALID_AMOUNT = "C2B00013"
INVALID_SHORTCODE = "C2B00015"


@bp.before_request
def _require_token() -> None:
    token = request.args.get("token", "")
    expected = current_app.config["C2B_TOKEN"]
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise ApiError(403, "forbidden", "Wrong or missing token in the C2B URL.")


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "Send Safaricom's C2B JSON body.")
    return body


def _text(body: dict[str, Any], name: str, limit: int) -> str:
    value = str(body.get(name) or "").strip()
    if not value or len(value) > limit:
        raise ApiError(400, "invalid_request", f"{name}: required, at most {limit} characters", field=name)
    return value


def _amount(raw: Any) -> int | None:
    """Whole shillings from Safaricom's `TransAmount` ("1050.00"); None unless a positive whole."""
    try:
        amount = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        return None
    if amount <= 0 or amount != amount.to_integral_value():
        return None
    return int(amount)


def _application(bill_ref: str) -> Application | None:
    canonical = normalise_reference(bill_ref)
    if canonical is None:
        return None
    return g.db.scalar(select(Application).where(Application.reference == canonical))


def _reply(code: str, description: str):
    return jsonify({"ResultCode": code, "ResultDesc": description})


@bp.post("/validation")
def validate():
    body = _body()
    if str(body.get("BusinessShortCode") or "").strip() != current_app.config["PAYBILL"]:
        return _reply(INVALID_SHORTCODE, "Rejected: not this paybill")
    if _amount(body.get("TransAmount")) is None:
        return _reply(INVALID_AMOUNT, "Rejected: pay whole shillings")
    application = _application(str(body.get("BillRefNumber") or ""))
    if application is None or application.payment_status in ("paid", "not_required"):
        return _reply(INVALID_ACCOUNT, "Rejected: use the reference of an unpaid application as account")
    return _reply(ACCEPTED, "Accepted")


@bp.post("/confirmation")
def confirm():
    body = _body()
    trans_id = _text(body, "TransID", 20)
    amount = _amount(body.get("TransAmount"))
    if amount is None:
        raise ApiError(400, "invalid_request", "TransAmount: a positive whole amount", field="TransAmount")
    record = PaybillTransaction(
        trans_id=trans_id,
        business_short_code=_text(body, "BusinessShortCode", 12),
        bill_ref_number=str(body.get("BillRefNumber") or "").strip()[:20],
        amount_kes=amount,
        msisdn=str(body.get("MSISDN") or "").strip()[:64],
        trans_time=str(body.get("TransTime") or "").strip()[:14],
        outcome="unmatched",
        received_at=utcnow(),
    )
    db = g.db
    if db.scalar(select(PaybillTransaction.id).where(PaybillTransaction.trans_id == trans_id)) is not None:
        return _reply(ACCEPTED, "Accepted")  # Safaricom repeats a confirmation it thinks was lost
    application = _application(record.bill_ref_number)
    if record.business_short_code != current_app.config["PAYBILL"]:
        record.outcome = "other_paybill"
    elif application is not None:
        record.outcome = "applied"
        record.payment_id = _record_payment(db, application, record).id
    db.add(record)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()  # the same TransID confirmed concurrently: recorded once by the other request
        return _reply(ACCEPTED, "Accepted")
    current_app.extensions["core"].wake()
    log.info("paybill payment trans=%s outcome=%s ref=%s", trans_id, record.outcome, record.bill_ref_number)
    return _reply(ACCEPTED, "Accepted")


def _record_payment(db: Any, application: Application, record: PaybillTransaction) -> Payment:
    """A settled `paybill` payment on the application; the application is paid once its paid
    payments add up to the fee. Emits `payment.settled` in the same transaction."""
    now = utcnow()
    payment = Payment(
        id=str(uuid.uuid4()),
        application=application,
        phone=application.citizen.phone,
        amount_kes=record.amount_kes,
        status="paid",
        method="paybill",
        checkout_request_id=f"C2B-{record.trans_id}",
        mpesa_receipt=record.trans_id[:12],
        created_at=now,
        settle_at=now,
        settled_at=now,
    )
    db.add(payment)
    db.flush()
    paid = db.scalar(
        select(func.coalesce(func.sum(Payment.amount_kes), 0)).where(
            Payment.application_id == application.id, Payment.status == "paid"
        )
    )
    if application.fee_kes and paid >= application.fee_kes:
        application.payment_status = "paid"
    application.updated_at = now
    webhooks.enqueue(db, webhooks.PAYMENT_SETTLED, application, payment=payment_json(payment))
    return payment
