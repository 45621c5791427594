"""PIN hashing and the lockout rule: 3 wrong PINs in a row lock the account for a while.

The count lives on the citizen's row (one per national ID), so it holds across phones, sessions
and endpoints. It only changes through single conditional UPDATE statements: requests arriving at
once each add their own wrong attempt, and a right PIN passes only if the account is not locked at
the moment its answer is written, even when the lock was set while its hash was being checked.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from math import ceil

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, and_, case, literal, or_, select, update
from sqlalchemy.orm import Session

from stand_ins.core_service.db import UTCDateTime, utcnow
from stand_ins.core_service.errors import ApiError
from stand_ins.core_service.models import Citizen

MAX_ATTEMPTS = 3
_citizens = Citizen.__table__


def make_hasher(profile: str) -> PasswordHasher:
    """'default' is argon2-cffi's RFC 9106 low-memory profile; 'cheapest' is for tests only."""
    if profile == "cheapest":
        return PasswordHasher.from_parameters(profiles.CHEAPEST)
    return PasswordHasher()


def _locked(retry_after: int) -> ApiError:
    return ApiError(423, "account_locked", "Too many wrong PINs; try again later.", retry_after=retry_after)


def _unlocked(now: datetime) -> ColumnElement[bool]:
    return or_(_citizens.c.locked_until.is_(None), _citizens.c.locked_until <= now)


def _still_locked(db: Session, citizen_id: int, now: datetime) -> ApiError:
    locked_until = db.execute(select(_citizens.c.locked_until).where(_citizens.c.id == citizen_id)).scalar()
    seconds = (locked_until - now).total_seconds() if locked_until is not None else 1
    return _locked(max(1, ceil(seconds)))


def check_pin(db: Session, hasher: PasswordHasher, citizen: Citizen, pin: str, lock_seconds: int) -> None:
    """Return if `pin` is right and the account is not locked; otherwise raise 401 `wrong_pin`
    (with `attempts_left`) or 423 `account_locked` (with `retry_after` seconds).

    A wrong attempt is committed at once, so it counts even though the request fails. A right one
    clears the count in the caller's transaction, in the same statement that checks the lock.
    """
    now = utcnow()
    if citizen.locked_until is not None and citizen.locked_until > now:
        raise _locked(ceil((citizen.locked_until - now).total_seconds()))
    try:
        hasher.verify(citizen.pin_hash, pin)
    except (VerificationError, InvalidHashError):
        _count_wrong_pin(db, citizen.id, lock_seconds)
    now = utcnow()
    state = db.execute(
        select(_citizens.c.failed_pin_attempts, _citizens.c.locked_until).where(_citizens.c.id == citizen.id)
    ).one()
    if state.locked_until is not None and state.locked_until > now:
        raise _locked(ceil((state.locked_until - now).total_seconds()))
    if state.failed_pin_attempts or state.locked_until is not None:
        cleared = db.execute(
            update(_citizens)
            .where(_citizens.c.id == citizen.id, _unlocked(now))
            .values(failed_pin_attempts=0, locked_until=None)
        )
        if cleared.rowcount != 1:
            db.rollback()
            raise _still_locked(db, citizen.id, now)
    if hasher.check_needs_rehash(citizen.pin_hash):
        citizen.pin_hash = hasher.hash(pin)


def _count_wrong_pin(db: Session, citizen_id: int, lock_seconds: int) -> None:
    """Add one wrong attempt in one statement (locking on the third) and commit; always raises."""
    now = utcnow()
    until = now + timedelta(seconds=lock_seconds)
    reaches_limit = _citizens.c.failed_pin_attempts + 1 >= MAX_ATTEMPTS
    row = db.execute(
        update(_citizens)
        .where(and_(_citizens.c.id == citizen_id, _unlocked(now)))
        .values(
            failed_pin_attempts=case((reaches_limit, 0), else_=_citizens.c.failed_pin_attempts + 1),
            locked_until=case((reaches_limit, literal(until, UTCDateTime())), else_=None),
        )
        .returning(_citizens.c.failed_pin_attempts, _citizens.c.locked_until)
    ).first()
    db.commit()
    if row is None:  # locked by a concurrent attempt since this request looked
        raise _still_locked(db, citizen_id, now)
    if row.locked_until is not None:
        raise _locked(lock_seconds) from None
    raise ApiError(
        401, "wrong_pin", "The PIN is not correct.", attempts_left=MAX_ATTEMPTS - row.failed_pin_attempts
    ) from None
