"""The sandbox's HTTP surface: Africa's Talking's send endpoint plus `/sandbox/*` controls for tests."""

from __future__ import annotations

import json
import logging
import re
import uuid
from decimal import Decimal
from typing import Any

import requests
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.http import HTTP_STATUS_CODES

from common.phones import mask_phone
from sms.segments import count_segments
from stand_ins.at_sandbox.config import load_config
from stand_ins.at_sandbox.delivery import DeliveryReporter, delivery_report
from stand_ins.at_sandbox.state import Faults, FaultSwitch, MessageLog, RequestError, timestamp
from stand_ins.at_sandbox.status_codes import ACCEPTED_CODES, AUTH_INVALID, STATUS_NAMES

log = logging.getLogger(__name__)

# A number the sandbox accepts: E.164 with a plus; Kenyan ones must have exactly 9 digits after 254.
_VALID_PHONE = re.compile(r"^\+(?:254\d{9}|(?!254)[1-9]\d{7,14})$")

api = Blueprint("at_api", __name__)
controls = Blueprint("sandbox_controls", __name__, url_prefix="/sandbox")


class Sandbox:
    """Everything one sandbox app holds: settings, faults, received messages, delivery reporter."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.faults = FaultSwitch()
        self.messages = MessageLog(config["MAX_MESSAGES"])
        self.reporter: DeliveryReporter | None = None
        if config["DLR_URL"]:
            self.reporter = DeliveryReporter(
                config["DLR_URL"],
                retries=config["DLR_RETRIES"],
                retry_delay_s=config["DLR_RETRY_DELAY_MS"] / 1000,
                workers=config["DLR_WORKERS"],
                timeout_s=config["CALLBACK_TIMEOUT_S"],
                on_posted=self._report_posted,
            )

    def _report_posted(self, report: dict[str, str], delivered: bool) -> None:
        if report["status"] not in {"Submitted", "Sent", "Buffered"}:
            self.messages.update(report["id"], dlr_posted=delivered)

    def schedule_reports(self, message_id: str, phone: str, faults: Faults) -> str:
        """Queue the delivery reports of one accepted message; returns its final status."""
        reason = faults.dlr_failures.get(phone, "")
        final = "Failed" if reason else "Success"
        if self.reporter is not None:
            delay_s = self.config["DLR_DELAY_MS"] / 1000
            network = self.config["NETWORK_CODE"]
            if self.config["DLR_SUBMITTED"]:
                self.reporter.schedule(delivery_report(message_id, phone, network, "Submitted"), delay_s / 2)
            self.reporter.schedule(delivery_report(message_id, phone, network, final, reason), delay_s)
        return final


def _sandbox() -> Sandbox:
    return current_app.extensions["at_sandbox"]


def _text(body: str, status: int) -> Response:
    return Response(body, status=status, content_type="text/plain")


def _money(amount: Decimal) -> str:
    return f"KES {amount:.4f}"


@api.post("/version1/messaging")
def send_messages() -> Response:
    sandbox = _sandbox()
    api_key = request.headers.get("apiKey", "")
    if not api_key or (sandbox.config["API_KEY"] and api_key != sandbox.config["API_KEY"]):
        return _text(AUTH_INVALID, 401)
    faults = sandbox.faults.current()
    sandbox.faults.sleep((faults.timeout_ms + faults.latency_ms) / 1000, faults)
    faults = sandbox.faults.current()  # the switch may have changed while asleep
    if faults.http_status is not None:
        status = faults.http_status
        return _text(AUTH_INVALID if status == 401 else HTTP_STATUS_CODES.get(status, "Error"), status)
    if sandbox.faults.take_forced_failure():
        return _text(HTTP_STATUS_CODES[500], 500)

    form = request.form
    missing = [name for name in ("username", "to", "message") if not form.get(name)]
    if missing:
        return _text(f"Request is missing required form field(s): {', '.join(missing)}", 400)
    if faults.invalid_sender:
        return _json_201({"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}})

    message = form["message"]
    encoding, segments, _ = count_segments(message)
    cost = Decimal(sandbox.config["COST_PER_SEGMENT"]) * segments
    received_at = timestamp()
    recipients, sent, total_cost = [], 0, Decimal(0)
    numbers = [n.strip() for n in form["to"].split(",") if n.strip()]
    for number in numbers:
        code = faults.recipient_codes.get(number) or (101 if _VALID_PHONE.match(number) else 403)
        accepted = code in ACCEPTED_CODES
        message_id = f"ATXid_{uuid.uuid4().hex}" if accepted else "None"
        recipients.append(
            {
                "statusCode": code,
                "number": number,
                "status": "Success" if accepted else STATUS_NAMES[code],
                "cost": _money(cost) if accepted else "0",
                "messageId": message_id,
            }
        )
        entry = {
            "id": message_id,
            "to": number,
            "from": form.get("from", ""),
            "message": message,
            "encoding": encoding,
            "segments": segments,
            "cost": _money(cost) if accepted else "0",
            "received_at": received_at,
            "status": recipients[-1]["status"],
            "status_code": code,
            "delivery_status": None,
            "dlr_posted": None,
        }
        if accepted:
            sent += 1
            total_cost += cost
            entry["delivery_status"] = sandbox.schedule_reports(message_id, number, faults)
        sandbox.messages.add(entry)
        log.info("sms to %s: code %s, %d segment(s)", mask_phone(number), code, segments)
    summary = f"Sent to {sent}/{len(numbers)} Total Cost: {_money(total_cost)}"
    return _json_201({"SMSMessageData": {"Message": summary, "Recipients": recipients}})


def _json_201(payload: dict[str, Any]) -> Response:
    # Exactly `application/json`, no charset: the official SDK returns a str for anything else.
    return Response(json.dumps(payload), status=201, content_type="application/json")


@controls.get("/faults")
def get_faults() -> Response:
    return jsonify(_sandbox().faults.current().as_dict())


@controls.post("/faults")
def set_faults() -> Response | tuple[Response, int]:
    try:
        faults = Faults.parse(request.get_json(force=True, silent=True))
    except (RequestError, TypeError, ValueError) as exc:
        return jsonify(error=str(exc)), 400
    _sandbox().faults.replace(faults)
    return jsonify(faults.as_dict())


@controls.get("/messages")
def list_messages() -> Response | tuple[Response, int]:
    try:
        entries = _sandbox().messages.list(phone=request.args.get("phone"), since=request.args.get("since"))
    except RequestError as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(entries)


@controls.delete("/messages")
def clear_messages() -> Response:
    return jsonify(deleted=_sandbox().messages.clear())


@controls.post("/inbound")
def post_inbound() -> Response | tuple[Response, int]:
    """Send the gateway an incoming SMS, as Africa's Talking would; answers what the gateway said."""
    sandbox = _sandbox()
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or not body.get("from") or "text" not in body:
        return jsonify(error='expected JSON {"from": "+2547...", "text": "..."}'), 400
    form = {
        "date": timestamp()[:19].replace("T", " "),
        "from": str(body["from"]),
        "to": str(body.get("to") or sandbox.config["SHORT_CODE"]),
        "text": str(body["text"]),
        "id": str(body.get("id") or uuid.uuid4()),
        "linkId": str(body.get("linkId", "")),
        "networkCode": str(body.get("networkCode") or sandbox.config["NETWORK_CODE"]),
    }
    url = sandbox.config["INBOUND_URL"]
    try:
        answer = requests.post(url, data=form, timeout=sandbox.config["CALLBACK_TIMEOUT_S"])
    except requests.RequestException as exc:
        return jsonify(id=form["id"], url=url, error=type(exc).__name__), 502
    return jsonify(id=form["id"], url=url, status=answer.status_code), (200 if answer.ok else 502)


@controls.get("/health")
def health() -> Response:
    reporter = _sandbox().reporter
    return jsonify(ok=True, pending_reports=reporter.pending() if reporter else 0)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """A sandbox app with its own empty state; `config` overrides keys of `config.DEFAULTS`."""
    app = Flask(__name__)
    app.extensions["at_sandbox"] = Sandbox(load_config(config))
    app.register_blueprint(api)
    app.register_blueprint(controls)
    return app


def close_app(app: Flask) -> None:
    """Stop the app's delivery-report threads (tests create many apps in one process)."""
    reporter = app.extensions["at_sandbox"].reporter
    if reporter is not None:
        reporter.close()
