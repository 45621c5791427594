"""`POST /events/application-status`: the core service's signed webhook (contract: sms/events.py).

Verify `X-Signature: sha256=<hex HMAC-SHA256(raw body, WEBHOOK_SECRET)>` in constant time (401 when
wrong), then queue the SMS the event asks for, once per event: a webhook retry gets the same
answer and no second SMS. 4xx answers carry a reason; 2xx means "done, do not send again".
`signature_of` / `signature_ok` are the one implementation of that signature in the gateway.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from flask import Blueprint, Response, jsonify, request

from common.logs import get_logger
from common.phones import InvalidPhoneNumber
from sms.channel import SmsChannel
from sms.events import EventRefused
from sms.templates import TemplateError

log = get_logger("gateway.events")

SIGNATURE_HEADER = "X-Signature"


def signature_of(body: bytes, secret: str) -> str:
    """The `X-Signature` value the core service sends for `body`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_ok(body: bytes, header: str | None, secret: str) -> bool:
    """Whether `header` signs exactly `body` with `secret` (constant time); never with no secret."""
    if not header or not secret:
        return False
    return hmac.compare_digest(header.strip().lower().encode(), signature_of(body, secret).encode())


def events_blueprint(channel: SmsChannel, *, webhook_secret: str) -> Blueprint:
    """The core service's webhook, verified with `webhook_secret`, acted on through `channel`."""
    bp = Blueprint("core_events", __name__)

    @bp.post("/events/application-status")
    def application_status() -> tuple[Response, int]:
        body = request.get_data(cache=False)
        if not signature_ok(body, request.headers.get(SIGNATURE_HEADER), webhook_secret):
            log.warning("webhook refused: bad signature")
            return jsonify(error="bad_signature", reason="X-Signature does not match the body"), 401
        try:
            event = json.loads(body)
        except ValueError:
            return jsonify(error="bad_request", reason="the body is not JSON"), 400
        try:
            result = channel.handle_event(
                event, request.headers.get("X-Event-Id"), request.headers.get("X-Event-Type")
            )
        except EventRefused as exc:
            return jsonify(error="bad_event", reason=exc.reason), 400
        except InvalidPhoneNumber as exc:
            return jsonify(error="bad_phone", reason=exc.reason), 422
        except TemplateError as exc:
            return jsonify(error="bad_event", reason=str(exc)), 422
        if result.queued is None:
            return jsonify(queued=False, reason=result.reason), 200
        queued = result.queued
        log.info("webhook event", outcome=result.reason, message=queued.id, duplicate=not queued.created)
        body = {
            "queued": True,
            "message": queued.id,
            "duplicate": not queued.created,
            "reason": result.reason,
        }
        return jsonify(body), 202

    return bp
