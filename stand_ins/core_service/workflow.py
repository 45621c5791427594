"""The application status workflow and the one function that moves it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from stand_ins.core_service import webhooks
from stand_ins.core_service.db import utcnow
from stand_ins.core_service.errors import ApiError
from stand_ins.core_service.models import Application, StatusChange

SUBMITTED = "submitted"
STATUSES = ("submitted", "under_review", "approved", "rejected", "ready_for_collection", "collected")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "submitted": ("under_review",),
    "under_review": ("approved", "rejected"),
    "approved": ("ready_for_collection",),
    "rejected": (),
    "ready_for_collection": ("collected",),
    "collected": (),
}


def change_status(db: Session, application: Application, new_status: str, note: str | None, by: str) -> None:
    """Move `application` to `new_status`, record it in the history and queue the webhook event.

    Raises 400 `unknown_status` or 409 `illegal_transition` (with `allowed`); commits nothing.
    """
    if new_status not in TRANSITIONS:
        raise ApiError(400, "unknown_status", f"Status must be one of: {', '.join(STATUSES)}.")
    allowed = TRANSITIONS[application.status]
    if new_status not in allowed:
        raise ApiError(
            409,
            "illegal_transition",
            f"Cannot move from {application.status} to {new_status}.",
            current_status=application.status,
            allowed=list(allowed),
        )
    old_status = application.status
    now = utcnow()
    application.status = new_status
    application.updated_at = now
    db.add(
        StatusChange(
            application=application,
            old_status=old_status,
            new_status=new_status,
            note=note,
            changed_by=by,
            changed_at=now,
        )
    )
    webhooks.enqueue(
        db, webhooks.STATUS_CHANGED, application, old_status=old_status, new_status=new_status, note=note
    )
