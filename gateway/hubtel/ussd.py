"""`POST /ussd/hubtel` (and `/ussd/hubtel/<token>`): Hubtel's Programmable Services callback.

Every request gets HTTP 200 and a JSON reply in Hubtel's shape (reply.py) — except a wrong or
missing callback secret, which gets 403 with a polite `release` in the same shape — because
anything else shows the citizen Hubtel's "invalid response" error. Initiation and Response become a
neutral `Hop` (request.py) for the hop service; Release and Timeout end the session: they run no
menu step, are recorded once per session as its end (analytics counts them as drop-offs), leave
who called remembered for the phone's next dial (`HopService.session_ended`) and are answered with
a `release` Hubtel does not show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from common.db import Database
from common.logs import get_logger
from common.phones import InvalidPhoneNumber, mask_phone, normalise_phone
from gateway import metrics
from gateway.callbacks import CallbackAnswer, CallbackRequest, json_answer, secret_of, secret_ok
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
from gateway.json_callbacks import BadCallback, echo, read_json
from gateway.replies import polite
from gateway.ussd import HopService
from records.ussd import UssdSessionEnd

log = get_logger("gateway.hubtel")

GOODBYE = "Goodbye."


class HubtelCallback:
    """Hubtel's USSD callback, a `Callback` (gateway/callbacks.py) answering through
    `hops`: the callback lane and Flask's routes serve it alike.

    `service_codes`: Hubtel service code (`*713#`) or service id -> tree id (HUBTEL_SERVICE_CODES);
    `text_limit`: characters of `Message` a screen may use; `callback_secret`: when set, the request
    must carry it as `?key=` or as the last path segment; `pseudonym` turns a phone into the keyed
    hash kept with a session's end.
    """

    name = "hubtel_callback"
    path = "/ussd/hubtel"
    takes_token = True
    fallback = json_answer(render("", polite("error"), final=True))

    def __init__(
        self,
        hops: HopService,
        *,
        callback_secret: str,
        phone_regions: tuple[str, ...],
        service_codes: Mapping[str, str],
        text_limit: int,
        database: Database,
        pseudonym: Callable[[str], str],
    ) -> None:
        self.hops = hops
        self.callback_secret = callback_secret
        self.phone_regions = phone_regions
        self.service_codes = service_codes
        self.text_limit = text_limit
        self.database = database
        self.pseudonym = pseudonym
        self._forbidden = json_answer(render("", polite("error"), final=True), 403)

    def __call__(self, given: CallbackRequest) -> CallbackAnswer:
        if not secret_ok(secret_of(given), self.callback_secret):
            metrics.CALLBACK_REJECTED.labels("bad_secret").inc()
            return self._forbidden
        fields: dict[str, Any] | None = None
        try:
            fields = read_json(given)
            hubtel = read_request(fields)
        except BadCallback as exc:
            log.warning("hubtel callback refused", reason=exc.reason)
            metrics.CALLBACK_REJECTED.labels("bad_request").inc()
            return json_answer(render(echo(fields, "sessionid"), polite("bad_request"), final=True))
        if hubtel.event in END_STATUS:
            phone = self._record_end(hubtel, END_STATUS[hubtel.event])
            if phone:  # who called is remembered for the phone's next dial
                self.hops.session_ended(phone, SESSION_PREFIX + hubtel.session_id)
            return json_answer(render(hubtel.session_id, GOODBYE, final=True))
        try:
            phone = normalise_phone(hubtel.mobile, self.phone_regions)
        except InvalidPhoneNumber as exc:
            log.warning("hubtel callback refused", reason=f"phone: {exc.reason}")
            metrics.CALLBACK_REJECTED.labels("bad_phone").inc()
            return json_answer(render(hubtel.session_id, polite("number_not_served"), final=True))
        reply = self.hops.handle(hubtel_hop(hubtel, phone, self.service_codes, self.text_limit))
        return json_answer(render(hubtel.session_id, reply.body, reply.final))

    def _record_end(self, hubtel: HubtelRequest, status: str) -> str | None:
        """Record the session's end once; the caller's phone (E.164), or None when it is not valid."""
        try:
            phone: str | None = normalise_phone(hubtel.mobile, self.phone_regions)
        except InvalidPhoneNumber:
            phone = None
        metrics.SESSION_ENDS.labels(status).inc()
        record = UssdSessionEnd(
            session_id=SESSION_PREFIX + hubtel.session_id,
            aggregator=AGGREGATOR,
            service_code=route(hubtel.service_code, self.service_codes).service_code[:32],
            network_code=network(hubtel.operator)[:10],
            phone_hash=self.pseudonym(phone) if phone else None,
            status=status,
            hops_count=max(hubtel.sequence - 1, 0),
            ended_at=datetime.now(UTC).replace(tzinfo=None),
        )
        try:
            with self.database.session() as session:
                session.add(record)
        except IntegrityError:
            return phone  # Hubtel repeated the notice: the end is recorded once
        except SQLAlchemyError as exc:
            # Analytics still judges the session (a drop-off once its last hop is old enough).
            log.warning("session end not recorded", session=hubtel.session_id, error=type(exc).__name__)
            return phone
        log.info("session ended", session=hubtel.session_id, phone=mask_phone(phone or ""), status=status)
        return phone
