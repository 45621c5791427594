"""Operator accounts: roles, argon2 passwords, API tokens, and the audit trail.

Plain functions over a SQLAlchemy session; the caller owns the transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from audit.trail import AuditTrail
from common.db import Database
from records.operators import ApiToken, Operator, OperatorAction

ROLES = ("viewer", "editor", "publisher", "admin")
TOKEN_PREFIX = "mnu_"  # noqa: S105 - a label on tokens, not a secret
MIN_PASSWORD_LEN = 10

_hasher = PasswordHasher()
_dummy_hashes: dict[int, str] = {}


def _dummy_hash() -> str:
    """Verified against when the email is unknown, so a miss costs as long as a wrong password."""
    key = id(_hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hashes[key]


class OperatorError(ValueError):
    """A request about operators that cannot be done, with a message a person can act on."""


@dataclass(frozen=True)
class Actor:
    """Who is acting, as the console and API see them (detached from any SQL session)."""

    id: int | None
    email: str
    role: str

    def can(self, role: str) -> bool:
        """True when this actor's role is `role` or above it."""
        return ROLES.index(self.role) >= ROLES.index(role)


SYSTEM = Actor(None, "system", "admin")


def actor_of(operator: Operator) -> Actor:
    return Actor(operator.id, operator.email, operator.role)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LEN:
        raise OperatorError(f"a password needs at least {MIN_PASSWORD_LEN} characters")
    return _hasher.hash(password)


def create_operator(session: Session, email: str, password: str, role: str, by: Actor = SYSTEM) -> Operator:
    email = normalise_email(email)
    if role not in ROLES:
        raise OperatorError(f"role must be one of {', '.join(ROLES)}")
    if "@" not in email or len(email) > 254:
        raise OperatorError("give an email address")
    if session.scalar(select(Operator).where(Operator.email == email)) is not None:
        raise OperatorError(f"an operator {email} already exists")
    operator = Operator(email=email, password_hash=hash_password(password), role=role, active=True)
    session.add(operator)
    session.flush()
    record(session, by, "operator.create", detail={"email": email, "role": role})
    return operator


def check_password(session: Session, email: str, password: str) -> Operator | None:
    """The active operator with this email and password, or None. Upgrades old hashes on the way."""
    operator = session.scalar(select(Operator).where(Operator.email == normalise_email(email)))
    if operator is None or not operator.active:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy_hash(), password)
        return None
    try:
        _hasher.verify(operator.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(operator.password_hash):
        operator.password_hash = _hasher.hash(password)
    operator.last_login_at = datetime.utcnow()
    return operator


def _token_hash(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough to make a leaked table useless.
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, operator: Actor, name: str) -> tuple[ApiToken, str]:
    """A new API token for `operator`; the clear token is returned once and never stored."""
    if operator.id is None:
        raise OperatorError("tokens belong to an operator")
    name = (name or "api").strip()[:80]
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(operator_id=operator.id, name=name, token_hash=_token_hash(token), prefix=token[:10])
    session.add(row)
    session.flush()
    record(session, operator, "token.create", detail={"token_id": row.id, "name": name})
    return row, token


def operator_for_token(session: Session, token: str) -> Operator | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None or row.revoked_at is not None:
        return None
    operator = session.get(Operator, row.operator_id)
    if operator is None or not operator.active:
        return None
    row.last_used_at = datetime.utcnow()
    return operator


def revoke_token(session: Session, operator: Actor, token_id: int) -> bool:
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    if row.operator_id != operator.id and not operator.can("admin"):
        return False
    row.revoked_at = datetime.utcnow()
    record(session, operator, "token.revoke", detail={"token_id": token_id})
    return True


def record(
    session: Session,
    actor: Actor,
    action: str,
    tree_id: str | None = None,
    detail: dict[str, Any] | None = None,
    trail: dict[str, Any] | None = None,
) -> None:
    """Append one line to the audit trail, in the caller's transaction (so it lands with the change).

    The same action also goes to the tamper-evident trail once the transaction commits
    (`forward_operator_events`), so a rolled-back change leaves no line there either; `trail` adds
    figures to that event (ids and counts only: it must hold no personal data and no operator text).
    """
    session.info.setdefault("operator_events", []).append(
        {
            **(trail or {}),
            "action": action,
            "actor": f"operator:{actor.id}" if actor.id is not None else "system",
            "role": actor.role,
            "tree_id": tree_id,
        }
    )
    session.add(
        OperatorAction(
            operator_id=actor.id,
            operator_email=actor.email,
            action=action,
            tree_id=tree_id,
            detail=detail or {},
        )
    )


def forward_operator_events(database: Database, trail: AuditTrail) -> None:
    """Send the operator actions `record` collects to `trail` once their transaction commits (a
    rolled-back change leaves no line there either). `create_app` calls this once per app."""

    def to_trail(session: Session) -> None:
        for fields in session.info.pop("operator_events", []):
            trail.record("operator", **fields)

    def drop_uncommitted(session: Session) -> None:
        session.info.pop("operator_events", None)

    event.listen(database.session_factory, "after_commit", to_trail)
    event.listen(database.session_factory, "after_rollback", drop_uncommitted)
