"""Operator accounts: roles, argon2 passwords, API tokens, and the audit trail.

Plain functions over a SQLAlchemy session; the caller owns the transaction. Hashing goes through
the process's `console.passwords.PasswordWork` (off the hop path), passed in by the caller.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from audit.trail import AuditTrail
from common.db import Database
from console.passwords import PasswordWork, password_problem
from records.operators import ApiToken, Operator, OperatorAction

ROLES = ("viewer", "editor", "publisher", "admin")
TOKEN_PREFIX = "mnu_"  # noqa: S105 - a label on tokens, not a secret
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 365


class OperatorError(ValueError):
    """A request about operators that cannot be done, with a message a person can act on."""


@dataclass(frozen=True)
class Actor:
    """Who is acting, as the console and API see them (detached from any SQL session).

    `token_id` is set when the actor is an API token (whose scope already capped `role`)."""

    id: int | None
    email: str
    role: str
    token_id: int | None = None

    def can(self, role: str) -> bool:
        """True when this actor's role is `role` or above it."""
        return ROLES.index(self.role) >= ROLES.index(role)


SYSTEM = Actor(None, "system", "admin")


def actor_of(operator: Operator, token: ApiToken | None = None) -> Actor:
    """The operator as an actor; through `token`, with the lower of their role and its scope."""
    role = operator.role
    if token is not None and token.scope in ROLES and ROLES.index(token.scope) < ROLES.index(role):
        role = token.scope
    return Actor(operator.id, operator.email, role, token.id if token is not None else None)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _utcnow() -> datetime:
    return datetime.utcnow()  # noqa: DTZ003 - these tables keep naive UTC


def hash_password(passwords: PasswordWork, password: str, email: str = "") -> str:
    """The hash of an acceptable new `password` (console/passwords.py's policy), or OperatorError."""
    problem = password_problem(password, email)
    if problem:
        raise OperatorError(problem)
    return passwords.hash(password)


def create_operator(
    session: Session,
    email: str,
    password: str,
    role: str,
    by: Actor = SYSTEM,
    *,
    passwords: PasswordWork,
) -> Operator:
    email = normalise_email(email)
    if role not in ROLES:
        raise OperatorError(f"role must be one of {', '.join(ROLES)}")
    if "@" not in email or len(email) > 254:
        raise OperatorError("give an email address")
    if session.scalar(select(Operator).where(Operator.email == email)) is not None:
        raise OperatorError(f"an operator {email} already exists")
    operator = Operator(
        email=email,
        password_hash=hash_password(passwords, password, email),
        role=role,
        active=True,
        session_generation=0,
    )
    session.add(operator)
    session.flush()
    record(session, by, "operator.create", detail={"email": email, "role": role})
    return operator


def check_password(session: Session, passwords: PasswordWork, email: str, password: str) -> Operator | None:
    """The active operator with this email and password, or None. Upgrades old hashes on the way.
    Raises `console.passwords.PasswordsBusy` when this process cannot hash now."""
    operator = session.scalar(select(Operator).where(Operator.email == normalise_email(email)))
    if operator is None or not operator.active:
        passwords.verify_nobody(password)
        return None
    if not passwords.verify(operator.password_hash, password):
        return None
    if passwords.needs_rehash(operator.password_hash):
        operator.password_hash = passwords.hash(password)
    operator.last_login_at = _utcnow()
    return operator


def end_sessions(operator: Operator) -> None:
    """End every console session of `operator` (their cookies carry the old generation)."""
    operator.session_generation = (operator.session_generation or 0) + 1


def change_password(
    session: Session,
    passwords: PasswordWork,
    operator: Operator,
    new_password: str,
    by: Actor,
    *,
    current_password: str | None = None,
) -> None:
    """Set a new password (checked against the policy). `current_password` must match when given
    (an operator changing their own). Every console session of the operator ends."""
    if current_password is not None and not passwords.verify(operator.password_hash, current_password):
        raise OperatorError("the current password is wrong")
    operator.password_hash = hash_password(passwords, new_password, operator.email)
    operator.password_changed_at = _utcnow()
    end_sessions(operator)
    record(session, by, "operator.password", detail={"operator_id": operator.id})


def deactivate_operator(session: Session, operator: Operator, by: Actor) -> int:
    """Deactivate `operator`: no login, every console session ended, every API token revoked.
    Returns how many tokens were revoked."""
    if by.id is not None and by.id == operator.id:
        raise OperatorError("you cannot deactivate yourself; ask another admin")
    operator.active = False
    end_sessions(operator)
    now = _utcnow()
    tokens = session.scalars(
        select(ApiToken).where(ApiToken.operator_id == operator.id, ApiToken.revoked_at.is_(None))
    ).all()
    for token in tokens:
        token.revoked_at = now
    record(session, by, "operator.deactivate", detail={"operator_id": operator.id, "tokens": len(tokens)})
    return len(tokens)


def _token_hash(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough to make a leaked table useless.
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    operator: Actor,
    name: str,
    *,
    days: int | None = None,
    scope: str | None = None,
    max_days: int = MAX_TOKEN_DAYS,
) -> tuple[ApiToken, str]:
    """A new API token for `operator`; the clear token is returned once and never stored.

    It expires after `days` (DEFAULT_TOKEN_DAYS; at most `max_days`) and acts with `scope` (a
    role, the operator's own by default, never above it). Minted with a token (`operator.token_id`)
    it is that token's child: it expires no later, acts no higher, and dies when it is revoked."""
    if operator.id is None:
        raise OperatorError("tokens belong to an operator")
    name = (name or "api").strip()[:80]
    days = DEFAULT_TOKEN_DAYS if days is None else days
    if not 1 <= days <= max_days:
        raise OperatorError(f"a token lives 1 to {max_days} days")
    scope = scope or operator.role
    if scope not in ROLES:
        raise OperatorError(f"scope must be one of {', '.join(ROLES)}")
    if not operator.can(scope):
        raise OperatorError(f"a token cannot act above your role ({operator.role})")
    expires_at = _utcnow() + timedelta(days=days)
    if operator.token_id is not None:
        parent = session.get(ApiToken, operator.token_id)
        if parent is None or parent.revoked_at is not None:
            raise OperatorError("the token you are using is no longer valid")
        if parent.expires_at is not None:
            expires_at = min(expires_at, parent.expires_at)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        operator_id=operator.id,
        name=name,
        token_hash=_token_hash(token),
        prefix=token[:10],
        expires_at=expires_at,
        scope=scope,
        parent_id=operator.token_id,
    )
    session.add(row)
    session.flush()
    detail = {"token_id": row.id, "name": name, "scope": scope, "parent_id": operator.token_id}
    record(session, operator, "token.create", detail=detail)
    return row, token


def operator_for_token(session: Session, token: str) -> tuple[Operator, ApiToken] | None:
    """The active operator and the live (not revoked, not expired) token row of `token`."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    now = _utcnow()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    operator = session.get(Operator, row.operator_id)
    if operator is None or not operator.active:
        return None
    row.last_used_at = now
    return operator, row


def revoke_token(session: Session, operator: Actor, token_id: int) -> bool:
    """Revoke a token and, with it, every token minted from it (and from those, …)."""
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    if row.operator_id != operator.id and not operator.can("admin"):
        return False
    now = _utcnow()
    revoked, todo = [], [row]
    while todo:
        current = todo.pop()
        if current.revoked_at is None:
            current.revoked_at = now
            revoked.append(current.id)
        todo += session.scalars(select(ApiToken).where(ApiToken.parent_id == current.id)).all()
    record(session, operator, "token.revoke", detail={"token_id": token_id, "revoked": revoked})
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
