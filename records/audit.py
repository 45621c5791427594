"""The audit trail in SQL: append-only records chained by hash, and the checkpoints purges leave.

Written only by the drainer (`audit.drain`). Phones appear only as keyed hashes; typed values,
PINs and ID numbers never appear at all.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Base, BigId


class AuditRecord(Base):
    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_kind_at", "kind", "at"),
        Index("ix_audit_records_session_seq", "session_id", "seq"),
    )

    # Position in the chain: 1, 2, 3… with no gaps, so a deleted record leaves a visible hole.
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    # The Redis stream entry id: a retried batch cannot write the same event twice.
    stream_id: Mapped[str] = mapped_column(String(32), unique=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    session_id: Mapped[str | None] = mapped_column(String(64))
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    service_code: Mapped[str | None] = mapped_column(String(32))
    tree_id: Mapped[str | None] = mapped_column(String(64))
    tree_version: Mapped[str | None] = mapped_column(String(32))
    node: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    outcome: Mapped[str | None] = mapped_column(String(24))
    journey: Mapped[str | None] = mapped_column(String(24))
    final: Mapped[bool | None] = mapped_column(Boolean)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    # Every other field of the event (SMS status and cost, operator action…), as canonical JSON.
    details: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """Left by `audit purge`: the chain now starts after `through_seq`, whose hash was `through_hash`."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    through_seq: Mapped[int] = mapped_column(BigId)
    through_hash: Mapped[str] = mapped_column(String(64))
    purged: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)
