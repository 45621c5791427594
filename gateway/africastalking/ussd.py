"""`POST /ussd/africastalking` and `POST /ussd/africastalking/events`, as Africa's Talking posts them.

Every USSD callback gets HTTP 200 `text/plain` starting with `CON ` or `END ` — except a wrong
callback secret, which gets 403 — because anything else makes the aggregator drop the citizen.
The callback turns the form into a neutral `Hop`, asks the hop service, and renders the `HopReply`
as `CON …` (waits for input) or `END …` (closes).

Africa's Talking resends every key of the session on each hop (`text=1*2*3`): `transcript_hop`
turns that into a `Hop` whose new inputs the hop service picks without ever seeing the transcript.
The replay key is a keyed digest (BLAKE2b MAC) of the transcript under the transcript-mac key
derived from SECRET_KEY (common/keys.py), so the session store keeps neither the keys (they hold
PINs and ID numbers) nor a hash that could be tried against every 4-digit PIN.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from citizen.drafts import DraftNotices
from common.db import Database
from common.logs import get_logger
from common.phones import InvalidPhoneNumber, mask_phone, normalise_phone
from gateway import metrics
from gateway.africastalking.forms import BadCallback, caller_refused, read_form, require
from gateway.callbacks import CallbackAnswer, CallbackRequest, callback_blueprint, from_flask
from gateway.callers import CallerNetworks
from gateway.hop import Hop
from gateway.replies import polite
from gateway.ussd import HopService
from records.ussd import UssdSessionEnd

log = get_logger("gateway.africastalking")

AGGREGATOR = "africastalking"
_DIGEST_SIZE = 8


def replay_key(text: str, key: bytes) -> str:
    """The replay key of one transcript."""
    return hashlib.blake2b(text.encode("utf-8"), key=key, digest_size=_DIGEST_SIZE).hexdigest()


def transcript_hop(
    *, session_id: str, phone: str, service_code: str, network: str, text: str, key: bytes
) -> Hop:
    """The `Hop` for one callback whose cumulative transcript is `text` (`""` on a plain dial).

    `inputs` are the transcript's `*`-separated keys; `resends` lists the replay key of every
    shorter transcript this one extends (`""`, `k1`, `k1*k2`, …) with how many keys it held, so
    the inputs after the one the session last answered are this hop's new ones.
    """
    inputs = tuple(text.split("*")) if text else ()
    running = hashlib.blake2b(key=key, digest_size=_DIGEST_SIZE)
    resends = []
    if inputs:
        resends.append((running.copy().hexdigest(), 0))
        for count, segment in enumerate(inputs[:-1], 1):
            running.update((segment if count == 1 else "*" + segment).encode("utf-8"))
            resends.append((running.copy().hexdigest(), count))
    return Hop(
        session_id=session_id,
        phone=phone,
        service_code=service_code,
        network=network,
        inputs=inputs,
        replay_key=replay_key(text, key),
        resends=tuple(resends),
        aggregator=AGGREGATOR,
    )


USSD_FIELDS = {"sessionId": 64, "serviceCode": 32, "phoneNumber": 20, "networkCode": 10, "text": 400}
_FORBIDDEN = {
    "network": "callbacks are not taken from this network",
    "bad_secret": "wrong or missing callback key",
}
EVENT_FIELDS = {"sessionId": 64, "serviceCode": 32, "phoneNumber": 20, "networkCode": 10, "status": 16}


def render_at(body: str, final: bool) -> str:
    """The reply body for a screen. Never an empty CON: that would leave the citizen stuck."""
    if not body.strip():
        return "END " + polite("error")
    return ("END " if final else "CON ") + body


class UssdCallback:
    """`POST /ussd/africastalking`, a `Callback` (gateway/callbacks.py): the callback
    lane and Flask's route serve it alike.

    `callback_secret` (when set) and `networks` (when any) decide who may post: anyone else gets
    403 with a polite `END` and nothing is acted on. Garbage gets a polite `END` with HTTP 200.
    `transcript_key` keys the replay digest of transcripts (the same on every process).
    """

    name = "ussd_callback"
    path = "/ussd/africastalking"
    takes_token = False
    fallback = CallbackAnswer(200, render_at(polite("error"), final=True))

    def __init__(
        self,
        hops: HopService,
        *,
        callback_secret: str,
        phone_regions: tuple[str, ...],
        transcript_key: bytes,
        networks: CallerNetworks | None = None,
    ) -> None:
        self.hops = hops
        self.callback_secret = callback_secret
        self.phone_regions = phone_regions
        self.transcript_key = transcript_key
        self.networks = networks or CallerNetworks()
        # The refusals never change: rendered once.
        self._forbidden = CallbackAnswer(403, "END " + polite("error"))
        self._bad_request = CallbackAnswer(200, render_at(polite("bad_request"), final=True))
        self._not_served = CallbackAnswer(200, render_at(polite("number_not_served"), final=True))

    def __call__(self, given: CallbackRequest) -> CallbackAnswer:
        refused = caller_refused(given, self.callback_secret, self.networks)
        if refused:
            metrics.CALLBACK_REJECTED.labels(refused).inc()
            return self._forbidden
        try:
            form = require(read_form(given), USSD_FIELDS)
        except BadCallback as exc:
            log.warning("ussd callback refused", reason=exc.reason)
            metrics.CALLBACK_REJECTED.labels("bad_request").inc()
            return self._bad_request
        session_id = form["sessionId"].strip()
        if not session_id:
            metrics.CALLBACK_REJECTED.labels("bad_request").inc()
            return self._bad_request
        try:
            phone = normalise_phone(form["phoneNumber"], self.phone_regions)
        except InvalidPhoneNumber as exc:
            log.warning("ussd callback refused", reason=f"phone: {exc.reason}")
            metrics.CALLBACK_REJECTED.labels("bad_phone").inc()
            return self._not_served
        hop = transcript_hop(
            session_id=session_id,
            phone=phone,
            service_code=form["serviceCode"].strip(),
            network=form["networkCode"].strip(),
            text=form["text"],
            key=self.transcript_key,
        )
        reply = self.hops.handle(hop)
        return CallbackAnswer(200, render_at(reply.body, reply.final))


def ussd_blueprint(
    callback: UssdCallback,
    *,
    database: Database,
    pseudonym: Callable[[str], str],
    drafts: DraftNotices | None = None,
) -> Blueprint:
    """The USSD callback's Flask route (`callback`, also served by the callback lane) and the
    session-end events, refused like the callback (its secret and networks).

    `pseudonym` turns a phone into the keyed hash kept with a session-end record; `drafts` hears of
    sessions that ended without success, so a dropped application's draft is announced.
    """
    bp = callback_blueprint("africastalking_ussd", callback)

    @bp.post("/ussd/africastalking/events")
    def session_end_event() -> tuple[Response, int] | Response:
        """Record the aggregator's end-of-session report once per sessionId (repeats are
        acknowledged) and remember who called for the phone's next dial."""
        given = from_flask(request)
        refused = caller_refused(given, callback.callback_secret, callback.networks)
        if refused:
            metrics.CALLBACK_REJECTED.labels(refused).inc()
            return jsonify(error="forbidden", message=_FORBIDDEN[refused]), 403
        try:
            form = require(read_form(given), EVENT_FIELDS)
        except BadCallback as exc:
            return jsonify(error="bad_request", message=exc.reason), 400
        try:
            phone: str | None = normalise_phone(form["phoneNumber"], callback.phone_regions)
        except InvalidPhoneNumber:
            phone = None
        status = form["status"]
        metrics.SESSION_ENDS.labels(
            status if status in ("Success", "Incomplete", "Failed") else "other"
        ).inc()
        record = UssdSessionEnd(
            session_id=form["sessionId"],
            aggregator=AGGREGATOR,
            service_code=form["serviceCode"],
            network_code=form["networkCode"],
            phone_hash=pseudonym(phone) if phone else None,
            status=status,
            error_message=(form.get("errorMessage") or None) and form["errorMessage"][:200],
            cost=form.get("cost", "")[:32] or None,
            duration_ms=_int(form.get("durationInMillis")),
            hops_count=_int(form.get("hopsCount")),
            ended_at=_date(form.get("date")),
        )
        try:
            with database.session() as session:
                session.add(record)
        except IntegrityError:
            return jsonify(recorded=False, reason="already recorded"), 200
        if phone:
            callback.hops.session_ended(phone, form["sessionId"].strip())
        if status != "Success" and phone and drafts is not None:
            try:
                drafts.session_ended(phone, form["sessionId"].strip())
            except Exception:  # the event is recorded; a lost "saved" SMS is logged, not a 5xx
                log.exception("dropped session not announced", session=form["sessionId"])
        if status == "Failed":
            log.warning(
                "aggregator reports a failed session", session=form["sessionId"], error=record.error_message
            )
        log.info("session ended", session=form["sessionId"], phone=mask_phone(phone or ""), status=status)
        return jsonify(recorded=True), 200

    @bp.errorhandler(Exception)
    def never_a_5xx(error: Exception) -> Response | tuple[Response, int]:
        """Last line of defence: whatever broke, the aggregator gets a polite END, not a 5xx."""
        if (
            isinstance(error, HTTPException)
            and error.code
            and error.code < 500
            and request.path.endswith("/events")
        ):
            return jsonify(error="bad_request", message=error.description), error.code
        metrics.HOP_ERRORS.labels("unhandled").inc()
        log.exception("unhandled error in a USSD callback")
        return Response(callback.fallback.body, mimetype=callback.fallback.mimetype)

    return bp


# The columns are 32-bit: a larger count is not a real session's, so it is not kept.
_MAX_COUNT = 2**31 - 1


def _int(value: str | None) -> int | None:
    """A non-negative count from the form, or None for anything else (absurd sizes included)."""
    if not value or len(value) > 12:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if 0 <= number <= _MAX_COUNT else None


def _date(value: str | None) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S") if value else None
    except ValueError:
        return None
