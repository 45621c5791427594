"""Console operators, their API tokens, and the audit trail of what they did.

Passwords are argon2 hashes and tokens SHA-256 hashes: nothing here lets a reader log in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Base, UtcNow, utcnow


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # viewer | editor | publisher | admin
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=UtcNow())
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Console cookies carry the generation they were issued under; logout, a password change and
    # deactivation move it on, which ends every session issued before (console/auth.py).
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime)


class ApiToken(Base):
    """A bearer token for automation; only its hash is kept, `prefix` helps a person tell them apart.

    `scope` is the highest role it acts with (never above its operator's); it stops working at
    `expires_at`. A token minted with another token is that token's child (`parent_id`): it can
    neither outlive nor out-rank it, and revoking a token revokes its children."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=UtcNow())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    scope: Mapped[str | None] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"), index=True)


class OperatorAction(Base):
    """Who did what, when: draft saves, publishes, rollbacks, logins, tokens, accounts."""

    __tablename__ = "operator_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    operator_email: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(32), index=True)
    tree_id: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=UtcNow(), index=True)
