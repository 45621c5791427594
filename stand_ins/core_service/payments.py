"""Simulated M-Pesa STK push: a payment starts `pending` and settles to `paid` or `failed` after
a delay, as Safaricom's callback would. Settlement runs in the background thread and lazily
whenever a payment or its application is read, so a reader never sees a stale `pending`."""

from __future__ import annotations

import logging
import secrets
import string
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from stand_ins.core_service import webhooks
from stand_ins.core_service.db import utcnow
from stand_ins.core_service.errors import ApiError
from stand_ins.core_service.models import Application, Payment
from stand_ins.core_service.privacy import mask_phone
from stand_ins.core_service.serialize import payment_json

log = logging.getLogger(__name__)

# M-Pesa ResultCode 1032, the most common failure a citizen meets
FAILURE_REASON = "Request cancelled by user"
PAID_ALREADY_REASON = "Application already paid"


@dataclass(frozen=True)
class PaymentSettings:
    delay_s: float = 5.0
    fail_phones: frozenset[str] = frozenset({"+254700000000"})
    fail_amount_kes: int | None = None


def start_payment(
    db: Session, application: Application, phone: str, settings: PaymentSettings
) -> tuple[Payment, bool]:
    """The pending payment for `application` (a new one, or the one already pending) and whether it
    was created now. Raises 409 `no_fee_due` or `already_paid`."""
    if application.fee_kes == 0:
        raise ApiError(409, "no_fee_due", "This application has no fee to pay.")
    if application.payment_status == "paid":
        raise ApiError(409, "already_paid", "This application is already paid.")
    pending = db.scalar(
        select(Payment).where(Payment.application_id == application.id, Payment.status == "pending")
    )
    if pending is not None:
        return pending, False
    now = utcnow()
    payment = Payment(
        id=str(uuid.uuid4()),
        application=application,
        phone=phone,
        amount_kes=application.fee_kes,
        status="pending",
        checkout_request_id=f"ws_CO_{now:%d%m%Y%H%M%S}{secrets.randbelow(10**6):06d}",
        created_at=now,
        settle_at=now + timedelta(seconds=settings.delay_s),
    )
    db.add(payment)
    application.payment_status = "pending"
    application.updated_at = now
    log.info("payment started ref=%s phone=%s", application.reference, mask_phone(phone))
    return payment, True


def _receipt() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(10))


def settle_due(db: Session, settings: PaymentSettings, application_id: int | None = None) -> int:
    """Settle pending payments whose time has come (of one application, or all); commit; return how
    many this call settled. Safe to run concurrently: a payment settles once."""
    now = utcnow()
    query = select(Payment).where(Payment.status == "pending", Payment.settle_at <= now)
    if application_id is not None:
        query = query.where(Payment.application_id == application_id)
    settled = 0
    for payment in db.scalars(query).all():
        # paid meanwhile by paybill: the prompt is not completed a second time
        paid_already = payment.application.payment_status == "paid"
        failed = (
            paid_already
            or payment.phone in settings.fail_phones
            or payment.amount_kes == settings.fail_amount_kes
        )
        values: dict[str, Any] = {"settled_at": now}
        if failed:
            reason = PAID_ALREADY_REASON if paid_already else FAILURE_REASON
            values |= {"status": "failed", "failure_reason": reason}
        else:
            values |= {"status": "paid", "mpesa_receipt": _receipt()}
        result = db.execute(
            update(Payment).where(Payment.id == payment.id, Payment.status == "pending").values(**values)
        )
        if result.rowcount != 1:
            continue  # another thread settled it first
        db.refresh(payment)
        application = payment.application
        if not paid_already:
            application.payment_status = "unpaid" if failed else "paid"
        application.updated_at = now
        webhooks.enqueue(db, webhooks.PAYMENT_SETTLED, application, payment=payment_json(payment))
        db.commit()
        settled += 1
        log.info("payment settled ref=%s status=%s", application.reference, payment.status)
    return settled
