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
from collections.abc import Callable

import redis

from common.logs import get_logger
from common.phones import InvalidPhoneNumber, normalise_phone
from gateway.callbacks import BadCallback, CallbackAnswer, CallbackRequest, json_answer, read_body, refusal
from sms.channel import SmsChannel
from sms.events import EventRefused, event_phone
from sms.templates import TemplateError

log = get_logger("gateway.events")

SIGNATURE_HEADER = "X-Signature"
EVENT_ID_HEADER = "X-Event-Id"
MAX_AGE_S = 300
MAX_BODY_BYTES = 64 * 1024
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


class StatusWebhook:
    """`POST /events/application-status`, a `Callback` (gateway/callbacks.py): the callback lane
    and Flask's route serve it alike.

    Verified with `webhook_secret` and acted on through `channel`; accepted signatures are
    remembered in `seen` (Redis) for twice `max_age_s`. A failure nothing else caught is a 503:
    the core signs its retry afresh, and the event id keeps it to one SMS. An accepted event about
    a phone makes the gateway forget who it remembered that phone's caller to be (`forget_caller`,
    given the E.164 number; `phone_regions` as for SMS): the core knows something newer.
    """

    name = "application_status"
    path = "/events/application-status"
    takes_token = False
    fallback = refusal("unavailable", "try again", 503)

    def __init__(
        self,
        channel: SmsChannel,
        *,
        webhook_secret: str,
        seen: redis.Redis,
        max_age_s: int = MAX_AGE_S,
        forget_caller: Callable[[str], None] | None = None,
        phone_regions: tuple[str, ...] = ("KE",),
    ) -> None:
        self.channel = channel
        self.forget_caller = forget_caller
        self.phone_regions = phone_regions
        self.webhook_secret = webhook_secret
        self.seen = seen
        self.max_age_s = max_age_s

    def __call__(self, given: CallbackRequest) -> CallbackAnswer:
        try:
            body = read_body(given, MAX_BODY_BYTES)
        except BadCallback:
            return refusal("too_large", f"the body is over {MAX_BODY_BYTES} bytes", 413)
        event_id = (given.header(EVENT_ID_HEADER) or "").strip()
        signature = given.header(SIGNATURE_HEADER)
        problem = signature_problem(body, signature, event_id, self.webhook_secret, max_age_s=self.max_age_s)
        if problem or signature is None:
            log.warning("webhook refused", reason=problem)
            reason = {
                "bad_signature": "X-Signature does not sign this X-Event-Id and body",
                "stale": f"the signature's time is more than {self.max_age_s} s from ours",
            }[problem or "bad_signature"]
            return refusal(problem or "bad_signature", reason, 401)
        try:
            fresh = self.seen.set(
                "webhook:seen:" + hashlib.sha256(signature.encode()).hexdigest(),
                1,
                nx=True,
                ex=2 * self.max_age_s,
            )
        except redis.RedisError as exc:
            log.warning("webhook deferred: redis unavailable", error=type(exc).__name__)
            return refusal("unavailable", "try again", 503)
        if not fresh:
            log.warning("webhook refused", reason="replayed")
            return refusal("replayed", "this signed request was already received", 409)
        try:
            event = _loads(body)
        except ValueError as exc:
            return refusal("bad_request", f"the body is not JSON: {exc}"[:200])
        body_id = event.get("event_id") if isinstance(event, dict) else None
        if body_id not in (None, "") and str(body_id) != event_id:
            return refusal("bad_event", "the body's event_id is not X-Event-Id")
        try:
            result = self.channel.handle_event(event, event_id, given.header("X-Event-Type"))
        except EventRefused as exc:
            return refusal("bad_event", exc.reason)
        except InvalidPhoneNumber as exc:
            return refusal("bad_phone", exc.reason, 422)
        except TemplateError as exc:
            return refusal("bad_event", str(exc), 422)
        self._forget_caller(event)
        if result.queued is None:
            return json_answer({"queued": False, "reason": result.reason})
        queued = result.queued
        log.info("webhook event", outcome=result.reason, message=queued.id, duplicate=not queued.created)
        answer = {
            "queued": True,
            "message": queued.id,
            "duplicate": not queued.created,
            "reason": result.reason,
        }
        return json_answer(answer, 202)

    def _forget_caller(self, event: object) -> None:
        phone = event_phone(event)
        if phone is None or self.forget_caller is None:
            return
        try:
            self.forget_caller(normalise_phone(phone, self.phone_regions))
        except (InvalidPhoneNumber, redis.RedisError) as exc:  # the remembered answer expires anyway
            log.warning("remembered caller not forgotten", error=type(exc).__name__)
