"""`POST /sms/africastalking/delivery` (delivery reports) and `POST /sms/africastalking/inbound`
(two-way SMS), as Africa's Talking posts them (form-encoded).

Both take the same optional `?key=` secret as the USSD callback (`AT_CALLBACK_SECRET`), answer JSON,
and are idempotent: reports are kept and only move a message forward; inbound messages act once per
`id`. Bad input gets a 4xx with a reason; "cannot act now" gets a 503 so Africa's Talking retries.
"""

from __future__ import annotations

import redis
from flask import Blueprint, Response, jsonify, request

from common.logs import get_logger
from common.phones import InvalidPhoneNumber, normalise_phone
from gateway import metrics
from gateway.africastalking.forms import BadCallback, caller_refused, read_form, require
from gateway.callbacks import from_flask
from gateway.callers import CallerNetworks
from sms.channel import InboundSms, SmsChannel
from sms.delivery import DeliveryReport, UnknownReportStatus
from sms.lookups import LookupUnavailable

log = get_logger("gateway.africastalking.sms_callbacks")

DELIVERY_FIELDS = {"id": 64, "status": 32}
DELIVERY_OPTIONAL = {"phoneNumber": 20, "networkCode": 10, "failureReason": 64, "retryCount": 6}
INBOUND_FIELDS = {"id": 64, "from": 20, "text": 480}
INBOUND_OPTIONAL = {"to": 20, "linkId": 64, "networkCode": 10, "date": 32}


def _refuse(error: str, reason: str, status: int = 400) -> tuple[Response, int]:
    return jsonify(error=error, reason=reason), status


def _form(optional: dict[str, int], required: dict[str, int]) -> dict[str, str]:
    form = require(read_form(from_flask(request)), required)
    for name, limit in optional.items():
        if len(form.get(name, "")) > limit:
            raise BadCallback(f"{name} over {limit} characters")
    for name in required:
        if not form[name].strip():
            raise BadCallback(f"empty {name}")
    return form


def sms_blueprint(
    channel: SmsChannel,
    *,
    callback_secret: str,
    phone_regions: tuple[str, ...],
    networks: CallerNetworks | None = None,
) -> Blueprint:
    """Delivery reports and inbound SMS, acted on through `channel`; refused (403) unless they
    carry `callback_secret` (when set) and come from `networks` (when any)."""
    bp = Blueprint("africastalking_sms", __name__)
    callers = networks or CallerNetworks()

    @bp.before_request
    def check_caller() -> tuple[Response, int] | None:
        refused = caller_refused(from_flask(request), callback_secret, callers)
        if refused == "network":
            metrics.CALLBACK_REJECTED.labels(refused).inc()
            return _refuse("forbidden", "callbacks are not taken from this network", 403)
        if refused:
            metrics.CALLBACK_REJECTED.labels(refused).inc()
            return _refuse("forbidden", "wrong or missing callback key", 403)
        return None

    @bp.post("/sms/africastalking/delivery")
    def delivery_report() -> tuple[Response, int]:
        try:
            form = _form(DELIVERY_OPTIONAL, DELIVERY_FIELDS)
            retry_count = int(form["retryCount"]) if form.get("retryCount", "").strip() else None
        except BadCallback as exc:
            return _refuse("bad_request", exc.reason)
        except ValueError:
            return _refuse("bad_request", "retryCount is not a number")
        phone = form.get("phoneNumber", "").strip() or None
        if phone:
            try:
                phone = normalise_phone(phone, phone_regions)
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
            outcome = channel.handle_report(report)
        except UnknownReportStatus as exc:
            return _refuse("bad_status", str(exc))
        log.info(
            "delivery report", message_id=report.provider_message_id, status=report.status, outcome=outcome
        )
        return jsonify(recorded=True, outcome=outcome), 200

    @bp.post("/sms/africastalking/inbound")
    def inbound_sms() -> tuple[Response, int]:
        try:
            form = _form(INBOUND_OPTIONAL, INBOUND_FIELDS)
        except BadCallback as exc:
            return _refuse("bad_request", exc.reason)
        try:
            phone = normalise_phone(form["from"], phone_regions)
        except InvalidPhoneNumber as exc:
            return _refuse("bad_phone", exc.reason, 422)
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
            result = channel.handle_inbound(sms)
        except LookupUnavailable as exc:
            log.warning("inbound sms deferred: core service unavailable", reason=str(exc))
            return _refuse("unavailable", "the core service cannot answer now; try again", 503)
        except redis.RedisError as exc:
            log.warning("inbound sms deferred: redis unavailable", error=type(exc).__name__)
            return _refuse("unavailable", "try again", 503)
        return jsonify(duplicate=result.duplicate, command=result.command, reply=result.reply_id), 200

    return bp
