"""The officer's endpoint: move an application's status (token-protected)."""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, current_app, g, jsonify, request

from stand_ins.core_service.api import find_application, json_body, latest_payment
from stand_ins.core_service.errors import ApiError
from stand_ins.core_service.requests_schema import ChangeStatus
from stand_ins.core_service.serialize import application_json
from stand_ins.core_service.workflow import change_status

log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _require_officer_token() -> None:
    """401 without a Bearer token, 403 with a wrong one."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "Send Authorization: Bearer <officer token>.")
    if not hmac.compare_digest(token.strip().encode(), current_app.config["ADMIN_TOKEN"].encode()):
        raise ApiError(403, "forbidden", "This token may not change applications.")


@bp.post("/applications/<reference>/status")
def set_status(reference: str):
    form = ChangeStatus.model_validate(json_body())
    application = find_application(reference)
    old_status = application.status
    change_status(g.db, application, form.status, form.note, by="officer")
    g.db.commit()
    current_app.extensions["core"].wake()
    log.info("status changed ref=%s %s -> %s", application.reference, old_status, form.status)
    return jsonify(application_json(application, latest_payment(application)))
