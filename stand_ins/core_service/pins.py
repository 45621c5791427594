"""PIN hashing and the lockout rule: 3 wrong PINs in a row lock the account for a while."""

from __future__ import annotations

from datetime import timedelta
from math import ceil

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from stand_ins.core_service.db import utcnow
from stand_ins.core_service.errors import ApiError
from stand_ins.core_service.models import Citizen

MAX_ATTEMPTS = 3


def make_hasher(profile: str) -> PasswordHasher:
    """'default' is argon2-cffi's RFC 9106 low-memory profile; 'cheapest' is for tests only."""
    if profile == "cheapest":
        return PasswordHasher.from_parameters(profiles.CHEAPEST)
    return PasswordHasher()


def check_pin(db: Session, hasher: PasswordHasher, citizen: Citizen, pin: str, lock_seconds: int) -> None:
    """Return if `pin` is right; otherwise raise 401 `wrong_pin` (with `attempts_left`) or 423
    `account_locked` (with `retry_after` seconds).

    A wrong attempt is committed at once, so it counts even though the request fails; a right one
    resets the counter in the caller's transaction.
    """
    now = utcnow()
    if citizen.locked_until is not None and citizen.locked_until > now:
        retry_after = ceil((citizen.locked_until - now).total_seconds())
        raise ApiError(
            423, "account_locked", "Too many wrong PINs; try again later.", retry_after=retry_after
        )
    try:
        hasher.verify(citizen.pin_hash, pin)
    except (VerificationError, InvalidHashError):
        citizen.failed_pin_attempts += 1
        if citizen.failed_pin_attempts >= MAX_ATTEMPTS:
            citizen.failed_pin_attempts = 0
            citizen.locked_until = now + timedelta(seconds=lock_seconds)
            db.commit()
            raise ApiError(
                423, "account_locked", "Too many wrong PINs; try again later.", retry_after=lock_seconds
            ) from None
        attempts_left = MAX_ATTEMPTS - citizen.failed_pin_attempts
        db.commit()
        raise ApiError(401, "wrong_pin", "The PIN is not correct.", attempts_left=attempts_left) from None
    if citizen.failed_pin_attempts or citizen.locked_until is not None:
        citizen.failed_pin_attempts = 0
        citizen.locked_until = None
    if hasher.check_needs_rehash(citizen.pin_hash):
        citizen.pin_hash = hasher.hash(pin)
