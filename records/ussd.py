"""What the USSD edge keeps in SQL: one row per ended session, as the aggregator reported it.

The transcript (`input`) and the last screen are not kept: they can hold PINs, ID numbers and names.
The phone number is kept only as its keyed pseudonym (the audit trail's), so analytics can join on it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Base, BigId, UtcNow, utcnow


class UssdSessionEnd(Base):
    __tablename__ = "ussd_session_ends"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), unique=True)
    aggregator: Mapped[str] = mapped_column(String(32), default="africastalking")
    service_code: Mapped[str] = mapped_column(String(32))
    network_code: Mapped[str] = mapped_column(String(10))
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(String(200))
    cost: Mapped[str | None] = mapped_column(String(32))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    hops_count: Mapped[int | None] = mapped_column(Integer)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=UtcNow())
