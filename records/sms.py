"""What the SMS channel keeps in SQL: the outbox (one row per message) and its status history,
opt-outs, inbound messages and every delivery report.

Parameters hold only what the template uses (see `sms.outbox`), never a PIN or an ID number; inbound
rows keep the parsed command and its argument, not the citizen's whole text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Base, BigId, utcnow

# Outbox statuses. queued -> sending -> sent -> delivered | failed; opted_out and rejected are final too.
QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
FAILED = "failed"
OPTED_OUT = "opted_out"
REJECTED = "rejected"
FINAL_STATUSES = frozenset({DELIVERED, FAILED, OPTED_OUT, REJECTED})


class SmsMessage(Base):
    """One SMS to one phone. `dedupe_key` makes the same event queue one message, however often told."""

    __tablename__ = "sms_outbox"
    __table_args__ = (Index("ix_sms_outbox_status_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    template: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # None until the worker resolves it: the caller's choice, else the citizen's, else the default.
    language: Mapped[str | None] = mapped_column(String(5))
    body: Mapped[str | None] = mapped_column(Text)
    segments: Mapped[int | None] = mapped_column(Integer)
    encoding: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    provider_message_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    cost: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    # Which worker batch holds the row while it is `sending`; outcomes only land on their own claim.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime)
    sending_at: Mapped[datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    final_at: Mapped[datetime | None] = mapped_column(DateTime)


class SmsStatusChange(Base):
    """Every status an outbox row went through, with a short detail (a reason, never a body)."""

    __tablename__ = "sms_status_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("sms_outbox.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SmsOptOut(Base):
    """A phone that sent STOP: only essential messages go to it until it sends START."""

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    since: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SmsInbound(Base):
    """One SMS a citizen sent us, once per Africa's Talking `id` (they retry until we answer 200)."""

    __tablename__ = "sms_inbound"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(64), unique=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    command: Mapped[str] = mapped_column(String(16))
    argument: Mapped[str | None] = mapped_column(String(32))
    short_code: Mapped[str | None] = mapped_column(String(20))
    link_id: Mapped[str | None] = mapped_column(String(64))
    network_code: Mapped[str | None] = mapped_column(String(10))
    sent_at: Mapped[str | None] = mapped_column(String(32))
    reply_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sms_outbox.id"))
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SmsDeliveryReport(Base):
    """Every delivery report as received. `applied_at` stays empty while its message is unknown
    (a report can beat the worker's record of the send); it is applied once the send is recorded."""

    __tablename__ = "sms_delivery_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_message_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(32))
    failure_reason: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(20))
    network_code: Mapped[str | None] = mapped_column(String(10))
    retry_count: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sms_outbox.id"))
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
