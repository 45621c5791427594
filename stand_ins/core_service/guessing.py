"""A limit on registrations that do not match the population register, so a person's date of birth
(or name) cannot be found by trying: per phone and per national ID, in a sliding window.

Each attempt is written and committed before it is counted, so attempts arriving at once each see
the others: a burst gets no more tries than a patient caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from math import ceil

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from stand_ins.core_service.db import utcnow
from stand_ins.core_service.errors import ApiError
from stand_ins.core_service.models import RegistrationAttempt


@dataclass(frozen=True)
class GuessLimits:
    per_phone: int = 5
    per_id: int = 10
    window_s: int = 24 * 3600


def start_attempt(db: Session, limits: GuessLimits, phone: str, id_digest: str) -> list[int]:
    """Record an attempt for the phone and the ID (committed), then raise 429 `too_many_attempts`
    (with `retry_after`) if either is over its limit. Returns the rows to `forget` on a match."""
    now = utcnow()
    since = now - timedelta(seconds=limits.window_s)
    db.execute(delete(RegistrationAttempt).where(RegistrationAttempt.attempted_at < since))
    subjects = {f"phone:{phone}": limits.per_phone, f"id:{id_digest}": limits.per_id}
    rows = [RegistrationAttempt(subject=subject, attempted_at=now) for subject in subjects]
    db.add_all(rows)
    db.commit()
    for subject, limit in subjects.items():
        recent = select(RegistrationAttempt.attempted_at).where(
            RegistrationAttempt.subject == subject, RegistrationAttempt.attempted_at >= since
        )
        count = db.scalar(select(func.count()).select_from(recent.subquery()))
        if count > limit:
            # the oldest of the last `limit` attempts decides when one more is allowed
            oldest = db.scalar(
                recent.order_by(RegistrationAttempt.attempted_at.desc()).offset(limit - 1).limit(1)
            )
            retry_after = max(1, ceil((oldest + timedelta(seconds=limits.window_s) - now).total_seconds()))
            raise ApiError(
                429,
                "too_many_attempts",
                "Too many registrations did not match the national register; try again later.",
                retry_after=retry_after,
            )
    return [row.id for row in rows]


def forget(db: Session, attempt_ids: list[int]) -> None:
    """The details matched: the attempt was no guess (in the caller's transaction)."""
    db.execute(delete(RegistrationAttempt).where(RegistrationAttempt.id.in_(attempt_ids)))
