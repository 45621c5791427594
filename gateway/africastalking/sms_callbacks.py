"""`POST /sms/africastalking/delivery` (delivery reports) and `POST /sms/africastalking/inbound`
(two-way SMS), as Africa's Talking posts them (form-encoded).

Both are `Callback`s (gateway/callbacks.py: served by the callback lane and by Flask's routes alike),
take the same optional `?key=` secret and networks as the USSD callback (`AT_CALLBACK_SECRET`,
`AT_ALLOWED_NETWORKS`), answer JSON, and are idempotent: reports are kept and only move a message
forward; inbound messages act once per `id`. Bad input gets a 4xx with a reason; "cannot act now"
(and any failure nothing else caught) gets a 503 so Africa's Talking retries.
"""

from __future__ import annotations

from typing import ClassVar

import redis

from common.logs import get_logger
from common.phones import InvalidPhoneNumber, normalise_phone
from gateway import metrics
from gateway.africastalking.forms import BadCallback, caller_refused, read_form, require
from gateway.callbacks import CallbackAnswer, CallbackRequest, json_answer, refusal
from gateway.callers import CallerNetworks
from sms.channel import InboundSms, SmsChannel
from sms.delivery import DeliveryReport, UnknownReportStatus
from sms.lookups import LookupUnavailable

log = get_logger("gateway.africastalking.sms_callbacks")

DELIVERY_FIELDS = {"id": 64, "status": 32}
DELIVERY_OPTIONAL = {"phoneNumber": 20, "networkCode": 10, "failureReason": 64, "retryCount": 6}
INBOUND_FIELDS = {"id": 64, "from": 20, "text": 480}
INBOUND_OPTIONAL = {"to": 20, "linkId": 64, "networkCode": 10, "date": 32}


_FORBIDDEN = {
    "network": refusal("forbidden", "callbacks are not taken from this network", 403),
    "bad_secret": refusal("forbidden", "wrong or missing callback key", 403),
}


def _form(given: CallbackRequest, optional: dict[str, int], required: dict[str, int]) -> dict[str, str]:
    form = require(read_form(given), required)
    for name, limit in optional.items():
        if len(form.get(name, "")) > limit:
            raise BadCallback(f"{name} over {limit} characters")
    for name in required:
        if not form[name].strip():
            raise BadCallback(f"empty {name}")
    return form


class _SmsCallback:
    """What both SMS callbacks share (each a `Callback`, gateway/callbacks.py): refused with 403
    unless they carry `callback_secret` (when set) and come from `networks` (when any); a failure
    nothing else caught is a 503, so Africa's Talking posts again."""

    name: ClassVar[str]
    path: ClassVar[str]
    takes_token = False
    fallback = refusal("unavailable", "try again", 503)

    def __init__(
        self,
        channel: SmsChannel,
        *,
        callback_secret: str,
        phone_regions: tuple[str, ...],
        networks: CallerNetworks | None = None,
    ) -> None:
        self.channel = channel
        self.callback_secret = callback_secret
        self.phone_regions = phone_regions
        self.networks = networks or CallerNetworks()

    def __call__(self, given: CallbackRequest) -> CallbackAnswer:
        refused = caller_refused(given, self.callback_secret, self.networks)
        if refused:
            metrics.CALLBACK_REJECTED.labels(refused).inc()
            return _FORBIDDEN[refused]
        return self.answer(given)

    def answer(self, given: CallbackRequest) -> CallbackAnswer:
        raise NotImplementedError


class DeliveryReports(_SmsCallback):
    """`POST /sms/africastalking/delivery`: kept, and moving their message forward only."""

    name = "delivery_report"
    path = "/sms/africastalking/delivery"

    def answer(self, given: CallbackRequest) -> CallbackAnswer:
        try:
            form = _form(given, DELIVERY_OPTIONAL, DELIVERY_FIELDS)
            retry_count = int(form["retryCount"]) if form.get("retryCount", "").strip() else None
        except BadCallback as exc:
            return refusal("bad_request", exc.reason)
        except ValueError:
            return refusal("bad_request", "retryCount is not a number")
        phone = form.get("phoneNumber", "").strip() or None
        if phone:
            try:
                phone = normalise_phone(phone, self.phone_regions)
            except InvalidPhoneNumber:
                phone = None  # the report is still about our message; the number is only kept for reference
        report = DeliveryReport(
            provider_message_id=form["id"].strip(),
            status=form["status"].strip(),
            phone=phone,
            network_code=form.get("networkCode", "").strip() or None,
            failure_reason=form.get("failureReason", "").strip() or None,
            retry_count=retry_count,
        )
        try:
            outcome = self.channel.handle_report(report)
        except UnknownReportStatus as exc:
            return refusal("bad_status", str(exc))
        log.info(
            "delivery report", message_id=report.provider_message_id, status=report.status, outcome=outcome
        )
        return json_answer({"recorded": True, "outcome": outcome})


class InboundMessages(_SmsCallback):
    """`POST /sms/africastalking/inbound`: a citizen's SMS, acted on once per `id`."""

    name = "inbound_sms"
    path = "/sms/africastalking/inbound"

    def answer(self, given: CallbackRequest) -> CallbackAnswer:
        try:
            form = _form(given, INBOUND_OPTIONAL, INBOUND_FIELDS)
        except BadCallback as exc:
            return refusal("bad_request", exc.reason)
        try:
            phone = normalise_phone(form["from"], self.phone_regions)
        except InvalidPhoneNumber as exc:
            return refusal("bad_phone", exc.reason, 422)
        sms = InboundSms(
            provider_id=form["id"].strip(),
            phone=phone,
            text=form["text"],
            short_code=form.get("to") or None,
            link_id=form.get("linkId") or None,
            network_code=form.get("networkCode") or None,
            date=form.get("date") or None,
        )
        try:
            result = self.channel.handle_inbound(sms)
        except LookupUnavailable as exc:
            log.warning("inbound sms deferred: core service unavailable", reason=str(exc))
            return refusal("unavailable", "the core service cannot answer now; try again", 503)
        except redis.RedisError as exc:
            log.warning("inbound sms deferred: redis unavailable", error=type(exc).__name__)
            return refusal("unavailable", "try again", 503)
        answer = {"duplicate": result.duplicate, "command": result.command, "reply": result.reply_id}
        return json_answer(answer)
