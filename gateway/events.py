"""`POST /events/application-status`: the core service's signed webhook (contract: sms/events.py).

The core service sends

    X-Event-Id: <event id>
    X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(WEBHOOK_SECRET, "<t>.<event id>.<raw body>")>

and the gateway, before it reads the body: checks the signature in constant time (401
`bad_signature`), refuses a timestamp more than `max_age_s` (300 s) away from its clock (401
`stale`), and refuses a signature it has already accepted (409 `replayed`: a captured request
posted again). The core signs each delivery attempt afresh, so its own retries are not replays;
they are deduplicated by event id and get the first answer, with no second SMS. A body that is
not JSON, nested too deeply or otherwise unusable gets 400 with a reason, never a 5xx.
`signature_of` / `signature_problem` are the one implementation of the signature in the gateway.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import redis
from flask import Blueprint, Response, jsonify, request

from common.logs import get_logger
from common.phones import InvalidPhoneNumber
from sms.channel import SmsChannel
from sms.events import EventRefused
from sms.templates import TemplateError

log = get_logger("gateway.events")

SIGNATURE_HEADER = "X-Signature"
EVENT_ID_HEADER = "X-Event-Id"
MAX_AGE_S = 300
_MAX_EVENT_ID = 128


def signature_of(body: bytes, secret: str, event_id: str, timestamp: int) -> str:
    """The `X-Signature` value the core service sends for `body` about `event_id` at `timestamp`."""
    message = f"{timestamp}.{event_id}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _parse(header: str) -> tuple[int, list[str]] | None:
    timestamp, digests = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1" and value:
            digests.append(value.lower())
    return (timestamp, digests) if timestamp is not None and digests else None


def signature_problem(
    body: bytes,
    header: str | None,
    event_id: str | None,
    secret: str,
    *,
    now: float | None = None,
    max_age_s: int = MAX_AGE_S,
) -> str | None:
    """None when `header` signs `event_id` and exactly `body` with `secret`, at a time within
    `max_age_s` of `now`; else `"bad_signature"` or `"stale"`. Never passes without a secret."""
    if not secret or not header or not event_id or len(event_id) > _MAX_EVENT_ID:
        return "bad_signature"
    parsed = _parse(header)
    if parsed is None:
        return "bad_signature"
    timestamp, digests = parsed
    expected = signature_of(body, secret, event_id, timestamp).rpartition("v1=")[2].encode()
    if not any(hmac.compare_digest(digest.encode(), expected) for digest in digests):
        return "bad_signature"
    if abs((time.time() if now is None else now) - timestamp) > max_age_s:
        return "stale"
    return None


def _loads(body: bytes) -> object:
    """The JSON of `body`; ValueError for anything that is not (too deep a nesting included)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def events_blueprint(
    channel: SmsChannel, *, webhook_secret: str, seen: redis.Redis, max_age_s: int = MAX_AGE_S
) -> Blueprint:
    """The core service's webhook, verified with `webhook_secret`, acted on through `channel`;
    accepted signatures are remembered in `seen` (Redis) for twice `max_age_s`."""
    bp = Blueprint("core_events", __name__)

    @bp.post("/events/application-status")
    def application_status() -> tuple[Response, int]:
        body = request.get_data(cache=False)
        event_id = request.headers.get(EVENT_ID_HEADER, "").strip()
        signature = request.headers.get(SIGNATURE_HEADER)
        problem = signature_problem(body, signature, event_id, webhook_secret, max_age_s=max_age_s)
        if problem:
            log.warning("webhook refused", reason=problem)
            reason = {
                "bad_signature": "X-Signature does not sign this X-Event-Id and body",
                "stale": f"the signature's time is more than {max_age_s} s from ours",
            }[problem]
            return jsonify(error=problem, reason=reason), 401
        try:
            fresh = seen.set(
                "webhook:seen:" + hashlib.sha256(signature.encode()).hexdigest(), 1, nx=True, ex=2 * max_age_s
            )
        except redis.RedisError as exc:
            log.warning("webhook deferred: redis unavailable", error=type(exc).__name__)
            return jsonify(error="unavailable", reason="try again"), 503
        if not fresh:
            log.warning("webhook refused", reason="replayed")
            return jsonify(error="replayed", reason="this signed request was already received"), 409
        try:
            event = _loads(body)
        except ValueError as exc:
            return jsonify(error="bad_request", reason=f"the body is not JSON: {exc}"[:200]), 400
        body_id = event.get("event_id") if isinstance(event, dict) else None
        if body_id not in (None, "") and str(body_id) != event_id:
            return jsonify(error="bad_event", reason="the body's event_id is not X-Event-Id"), 400
        try:
            result = channel.handle_event(event, event_id, request.headers.get("X-Event-Type"))
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
        answer = {
            "queued": True,
            "message": queued.id,
            "duplicate": not queued.created,
            "reason": result.reason,
        }
        return jsonify(answer), 202

    return bp
