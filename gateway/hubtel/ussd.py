"""`POST /ussd/hubtel` (and `/ussd/hubtel/<token>`): Hubtel's Programmable Services callback.

Every request gets HTTP 200 and a JSON reply in Hubtel's shape (reply.py) — except a wrong or
missing callback secret, which gets 403 with a polite `release` in the same shape — because
anything else shows the citizen Hubtel's "invalid response" error. Initiation and Response become a
neutral `Hop` (request.py) for the hop service; Release and Timeout end the session: they run no
menu step, are recorded once per session as its end (analytics counts them as drop-offs) and are
answered with a `release` Hubtel does not show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from common.db import Database
from common.logs import get_logger
from common.phones import InvalidPhoneNumber, mask_phone, normalise_phone
from gateway import metrics
from gateway.hubtel.reply import render
from gateway.hubtel.request import (
    AGGREGATOR,
    END_STATUS,
    SESSION_PREFIX,
    HubtelRequest,
    hubtel_hop,
    network,
    read_request,
    route,
)
from gateway.json_callbacks import BadCallback, echo, read_json, token_ok
from gateway.replies import polite
from gateway.ussd import HopService
from records.ussd import UssdSessionEnd

log = get_logger("gateway.hubtel")

GOODBYE = "Goodbye."


def _json(body: dict[str, str], status: int = 200) -> tuple[Response, int]:
    return jsonify(body), status


def hubtel_blueprint(
    hops: HopService,
    *,
    callback_secret: str,
    phone_regions: tuple[str, ...],
    service_codes: Mapping[str, str],
    text_limit: int,
    database: Database,
    pseudonym: Callable[[str], str],
) -> Blueprint:
    """Hubtel's USSD callback, answering through `hops`.

    `service_codes`: Hubtel service code (`*713#`) or service id -> tree id (HUBTEL_SERVICE_CODES);
    `text_limit`: characters of `Message` a screen may use; `callback_secret`: when set, the request
    must carry it as `?key=` or as the last path segment; `pseudonym` turns a phone into the keyed
    hash kept with a session's end.
    """
    bp = Blueprint("hubtel_ussd", __name__)

    def record_end(hubtel: HubtelRequest, status: str) -> None:
        try:
            phone: str | None = normalise_phone(hubtel.mobile, phone_regions)
        except InvalidPhoneNumber:
            phone = None
        metrics.SESSION_ENDS.labels(status).inc()
        record = UssdSessionEnd(
            session_id=SESSION_PREFIX + hubtel.session_id,
            aggregator=AGGREGATOR,
            service_code=route(hubtel.service_code, service_codes).service_code[:32],
            network_code=network(hubtel.operator)[:10],
            phone_hash=pseudonym(phone) if phone else None,
            status=status,
            hops_count=max(hubtel.sequence - 1, 0),
            ended_at=datetime.now(UTC).replace(tzinfo=None),
        )
        try:
            with database.session() as session:
                session.add(record)
        except IntegrityError:
            return  # Hubtel repeated the notice: the end is recorded once
        except SQLAlchemyError as exc:
            # Analytics still judges the session (a drop-off once its last hop is old enough).
            log.warning("session end not recorded", session=hubtel.session_id, error=type(exc).__name__)
            return
        log.info("session ended", session=hubtel.session_id, phone=mask_phone(phone or ""), status=status)

    @bp.post("/ussd/hubtel")
    @bp.post("/ussd/hubtel/<token>")
    def ussd_callback(token: str = "") -> tuple[Response, int]:
        if not token_ok(token or request.args.get("key", ""), callback_secret):
            metrics.CALLBACK_REJECTED.labels("bad_secret").inc()
            return _json(render("", polite("error"), final=True), 403)
        fields: dict[str, Any] | None = None
        try:
            fields = read_json(request)
            hubtel = read_request(fields)
        except BadCallback as exc:
            log.warning("hubtel callback refused", reason=exc.reason)
            metrics.CALLBACK_REJECTED.labels("bad_request").inc()
            return _json(render(echo(fields, "sessionid"), polite("bad_request"), final=True))
        if hubtel.event in END_STATUS:
            record_end(hubtel, END_STATUS[hubtel.event])
            return _json(render(hubtel.session_id, GOODBYE, final=True))
        try:
            phone = normalise_phone(hubtel.mobile, phone_regions)
        except InvalidPhoneNumber as exc:
            log.warning("hubtel callback refused", reason=f"phone: {exc.reason}")
            metrics.CALLBACK_REJECTED.labels("bad_phone").inc()
            return _json(render(hubtel.session_id, polite("number_not_served"), final=True))
        answer = hops.handle(hubtel_hop(hubtel, phone, service_codes, text_limit))
        return _json(render(hubtel.session_id, answer.body, answer.final))

    @bp.errorhandler(Exception)
    def never_a_5xx(_error: Exception) -> tuple[Response, int]:
        """Last line of defence: whatever broke, Hubtel gets a polite `release`, not a 5xx."""
        metrics.HOP_ERRORS.labels("unhandled").inc()
        log.exception("unhandled error in the hubtel callback")
        return _json(render("", polite("error"), final=True))

    return bp
