"""Signed webhooks to the gateway through a transactional outbox.

An event row is added in the same transaction as the change it reports; `deliver_due` (run by the
background thread) posts it with `X-Event-Id: <id>` and
`X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<event id>.<raw body>")>`, signed
afresh for every attempt, and retries with exponential backoff until the gateway answers 2xx. The
gateway refuses a signature older than five minutes or seen before, and deduplicates by
`event_id`, which is why a retry after a lost 2xx is harmless.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from stand_ins.core_service.db import utcnow
from stand_ins.core_service.models import Application, WebhookEvent

log = logging.getLogger(__name__)

APPLICATION_SUBMITTED = "application.submitted"
STATUS_CHANGED = "application.status_changed"
PAYMENT_SETTLED = "payment.settled"

# a claimed event is not picked again for this long, so two dispatchers do not post it twice
CLAIM_LEASE = timedelta(seconds=60)


def sign(body: bytes, secret: str, event_id: str, timestamp: int | None = None) -> str:
    """The X-Signature header value for `body` about `event_id`, at `timestamp` (now by default)."""
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.{event_id}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def enqueue(
    db: Session,
    event_type: str,
    application: Application,
    *,
    old_status: str | None = None,
    new_status: str | None = None,
    note: str | None = None,
    payment: dict[str, Any] | None = None,
) -> WebhookEvent:
    """Add an event about `application` to the outbox (in the caller's transaction)."""
    event_id = str(uuid.uuid4())
    now = utcnow()
    body = {
        "event_id": event_id,
        "type": event_type,
        "occurred_at": now.isoformat(),
        "reference": application.reference,
        "phone": application.citizen.phone,
        "service_code": application.service_code,
        "old_status": old_status,
        "new_status": new_status,
        "note": note,
        "payment": payment,
    }
    event = WebhookEvent(
        id=event_id,
        type=event_type,
        body=json.dumps(body, separators=(",", ":")),
        created_at=now,
        next_attempt_at=now,
    )
    db.add(event)
    return event


@dataclass(frozen=True)
class DeliverySettings:
    url: str
    secret: str
    timeout_s: float = 3.0
    retry_base_s: float = 1.0
    retry_max_s: float = 300.0
    max_attempts: int = 30


def _backoff(attempts: int, settings: DeliverySettings) -> timedelta:
    return timedelta(seconds=min(settings.retry_base_s * 2 ** (attempts - 1), settings.retry_max_s))


def _claim(db: Session, limit: int) -> list[WebhookEvent]:
    now = utcnow()
    due = db.scalars(
        select(WebhookEvent)
        .where(
            WebhookEvent.delivered_at.is_(None),
            WebhookEvent.gave_up_at.is_(None),
            WebhookEvent.next_attempt_at <= now,
        )
        .order_by(WebhookEvent.created_at)
        .limit(limit)
    ).all()
    claimed = []
    for event in due:
        result = db.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == event.id, WebhookEvent.next_attempt_at == event.next_attempt_at)
            .values(next_attempt_at=now + CLAIM_LEASE)
        )
        if result.rowcount == 1:
            claimed.append(event)
    db.commit()
    return claimed


def deliver_due(
    session_factory: sessionmaker, http: requests.Session, settings: DeliverySettings, limit: int = 20
) -> int:
    """Post the events that are due; return how many were delivered."""
    delivered = 0
    with session_factory() as db:
        events = _claim(db, limit)
        for event in events:
            body = event.body.encode()
            error: str | None = None
            try:
                response = http.post(
                    settings.url,
                    data=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-Signature": sign(body, settings.secret, event.id),
                        "X-Event-Id": event.id,
                        "X-Event-Type": event.type,
                    },
                    timeout=settings.timeout_s,
                )
                if not 200 <= response.status_code < 300:
                    error = f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                error = type(exc).__name__
            now = utcnow()
            event.attempts += 1
            if error is None:
                event.delivered_at = now
                event.last_error = None
                delivered += 1
                log.info(
                    "webhook delivered event=%s type=%s attempts=%d", event.id, event.type, event.attempts
                )
            elif event.attempts >= settings.max_attempts:
                event.gave_up_at = now
                event.last_error = error
                log.error("webhook given up event=%s after %d attempts: %s", event.id, event.attempts, error)
            else:
                event.next_attempt_at = now + _backoff(event.attempts, settings)
                event.last_error = error
                log.warning("webhook failed event=%s attempt=%d: %s", event.id, event.attempts, error)
            db.commit()
    return delivered
