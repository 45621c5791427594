"""For the gateway's webhook endpoint: check the signature and read the event.

raw = request.get_data()
if not verify_signature(raw, request.headers.get("X-Signature"), secret):
    return 401
event = parse_event(raw)    # dedupe on event.event_id
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import ValidationError

from backend_client.errors import BackendError
from backend_client.models import WebhookEvent

SIGNATURE_HEADER = "X-Signature"


def sign(body: bytes, secret: str) -> str:
    """The `X-Signature` value for `body`: 'sha256=' + hex HMAC-SHA256 with `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """Whether `header` is the signature of the exact raw `body` (constant-time compare)."""
    if not header or not secret:
        return False
    return hmac.compare_digest(header.strip().lower(), sign(body, secret))


def parse_event(body: bytes) -> WebhookEvent:
    """The event in a verified body; raises BackendError('bad_event') if it is not one."""
    try:
        return WebhookEvent.model_validate_json(body)
    except ValidationError as exc:
        raise BackendError(
            f"not a core-service event: {exc.error_count()} problem(s)", code="bad_event"
        ) from None
