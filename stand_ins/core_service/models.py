"""Tables of the core service: citizens, applications and their history, payments, feedback,
idempotency records and the webhook outbox."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from stand_ins.core_service.db import Base, utcnow


class Citizen(Base):
    __tablename__ = "citizens"

    id: Mapped[int] = mapped_column(primary_key=True)
    # never the ID itself: HMAC-SHA256 with CORE_ID_HASH_KEY, and the last 3 digits (identity.py)
    national_id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    national_id_last3: Mapped[str] = mapped_column(String(3))
    first_name: Mapped[str] = mapped_column(String(40))
    last_name: Mapped[str] = mapped_column(String(40))
    date_of_birth: Mapped[date]
    phone: Mapped[str] = mapped_column(String(16), unique=True)
    pin_hash: Mapped[str] = mapped_column(String(200))
    # changed only by single atomic UPDATE statements (pins.py), never read-modify-write
    failed_pin_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    applications: Mapped[list[Application]] = relationship(back_populates="citizen")


class RegistrationAttempt(Base):
    """A registration checked against the register, kept for a while to limit guessing: a row per
    subject (`phone:<E.164>` or `id:<keyed ID hash>`), deleted at once when the details matched."""

    __tablename__ = "registration_attempts"
    __table_args__ = (Index("ix_registration_attempts_subject_at", "subject", "attempted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(80))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (Index("ix_applications_citizen_created", "citizen_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"))
    service_code: Mapped[str] = mapped_column(String(40))
    answers_json: Mapped[str] = mapped_column(Text)
    fee_kes: Mapped[int]
    status: Mapped[str] = mapped_column(String(24))
    # unpaid | pending | paid | not_required; kept here so lists need no join
    payment_status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    citizen: Mapped[Citizen] = relationship(back_populates="applications")
    history: Mapped[list[StatusChange]] = relationship(
        back_populates="application", order_by="StatusChange.id"
    )


class StatusChange(Base):
    __tablename__ = "status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    old_status: Mapped[str | None] = mapped_column(String(24))
    new_status: Mapped[str] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(String(280))
    changed_by: Mapped[str] = mapped_column(String(20))  # citizen | officer
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    application: Mapped[Application] = relationship(back_populates="history")


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    phone: Mapped[str] = mapped_column(String(16))
    amount_kes: Mapped[int]
    status: Mapped[str] = mapped_column(String(10))  # pending | paid | failed
    # mpesa_stk: the prompt on the phone; paybill: paid to the paybill with the reference as account
    method: Mapped[str] = mapped_column(String(10), default="mpesa_stk", server_default="mpesa_stk")
    checkout_request_id: Mapped[str] = mapped_column(String(40))
    mpesa_receipt: Mapped[str | None] = mapped_column(String(12))
    failure_reason: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settle_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]

    application: Mapped[Application] = relationship()


class PaybillTransaction(Base):
    """One M-Pesa paybill (C2B) confirmation as Safaricom sent it, kept once per TransID, and what
    became of it: `applied` to an application's payment, or not (`unmatched`, `other_paybill`)."""

    __tablename__ = "paybill_transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    trans_id: Mapped[str] = mapped_column(String(20), unique=True)
    business_short_code: Mapped[str] = mapped_column(String(12))
    bill_ref_number: Mapped[str] = mapped_column(String(20))
    amount_kes: Mapped[int]
    # Safaricom sends the payer's number masked or hashed; kept as sent, never shown to anyone
    msisdn: Mapped[str] = mapped_column(String(64))
    trans_time: Mapped[str] = mapped_column(String(14))
    outcome: Mapped[str] = mapped_column(String(16))
    payment_id: Mapped[str | None] = mapped_column(ForeignKey("payments.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(16))
    rating: Mapped[int]
    comment: Mapped[str | None] = mapped_column(String(140))
    application_reference: Mapped[str | None] = mapped_column(String(12))
    service_code: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyRecord(Base):
    """The first successful answer to a write, replayed when the same key comes again."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    body_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEvent(Base):
    """Transactional outbox: written in the same transaction as the change it reports, delivered
    later by the background thread, so an event is never lost while the gateway is down."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)  # the exact bytes that are signed and sent
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    delivered_at: Mapped[datetime | None]
    gave_up_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
