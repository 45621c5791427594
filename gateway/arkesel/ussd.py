"""`POST /ussd/arkesel` (and `/ussd/arkesel/<token>`): Arkesel's USSD callback.

Every request gets HTTP 200 and a JSON reply in Arkesel's shape (reply.py) — except a wrong or
missing callback secret, which gets 403 with a polite end in the same shape — because anything
else leaves the citizen without a screen. Each request becomes a neutral `Hop` (request.py) for
the hop service. Arkesel sends no end-of-session notice: a session ends by its TTL, and a
continuation for a session the gateway does not hold gets a polite "please dial again".
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from common.logs import get_logger
from common.phones import InvalidPhoneNumber, normalise_phone
from gateway import metrics
from gateway.arkesel.replay import SameInputReplay
from gateway.arkesel.reply import render
from gateway.arkesel.request import arkesel_hop, read_request
from gateway.json_callbacks import BadCallback, echo, read_json, token_ok
from gateway.replies import polite
from gateway.ussd import HopService

log = get_logger("gateway.arkesel")

NO_IDS = ("", "", "")


def _json(body: dict[str, Any], status: int = 200) -> tuple[Response, int]:
    return jsonify(body), status


def arkesel_blueprint(
    hops: HopService,
    *,
    callback_secret: str,
    phone_regions: tuple[str, ...],
    tree_id: str,
    service_code: str,
    text_limit: int,
    replay: SameInputReplay,
) -> Blueprint:
    """Arkesel's USSD callback, answering through `hops` with tree `tree_id` (ARKESEL_TREE).

    `service_code`: the code Arkesel routes here, to read the keys of a deep dial (empty: none);
    `text_limit`: characters of `message` a screen may use; `replay`: how retries are recognised;
    `callback_secret`: when set, the request must carry it as `?key=` or as the last path segment.
    """
    bp = Blueprint("arkesel_ussd", __name__)

    @bp.post("/ussd/arkesel")
    @bp.post("/ussd/arkesel/<token>")
    def ussd_callback(token: str = "") -> tuple[Response, int]:
        if not token_ok(token or request.args.get("key", ""), callback_secret):
            metrics.CALLBACK_REJECTED.labels("bad_secret").inc()
            return _json(render(NO_IDS, polite("error"), final=True), 403)
        fields: dict[str, Any] | None = None
        try:
            fields = read_json(request)
            arkesel = read_request(fields)
        except BadCallback as exc:
            log.warning("arkesel callback refused", reason=exc.reason)
            metrics.CALLBACK_REJECTED.labels("bad_request").inc()
            ids = (echo(fields, "sessionid"), echo(fields, "userid"), echo(fields, "msisdn", 20))
            return _json(render(ids, polite("bad_request"), final=True))
        ids = (arkesel.session_id, arkesel.user_id, arkesel.msisdn)
        try:
            phone = normalise_phone(arkesel.msisdn, phone_regions)
        except InvalidPhoneNumber as exc:
            log.warning("arkesel callback refused", reason=f"phone: {exc.reason}")
            metrics.CALLBACK_REJECTED.labels("bad_phone").inc()
            return _json(render(ids, polite("number_not_served"), final=True))
        hop = arkesel_hop(
            arkesel,
            phone,
            tree_id=tree_id,
            service_code=service_code,
            text_limit=text_limit,
            replay=replay,
        )
        answer = hops.handle(hop)
        return _json(render(ids, answer.body, answer.final))

    @bp.errorhandler(Exception)
    def never_a_5xx(_error: Exception) -> tuple[Response, int]:
        """Last line of defence: whatever broke, Arkesel gets a polite end, not a 5xx."""
        metrics.HOP_ERRORS.labels("unhandled").inc()
        log.exception("unhandled error in the arkesel callback")
        return _json(render(NO_IDS, polite("error"), final=True))

    return bp
