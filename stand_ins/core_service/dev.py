"""Development-only endpoints, for simulators, the console and test tools: people from the
population register to register with. create_app() does not mount them in production."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from stand_ins.core_service.errors import ApiError
from stand_ins.core_service.models import Citizen

bp = Blueprint("dev", __name__, url_prefix="/dev")
MAX_PEOPLE = 100


@bp.get("/people")
def people():
    """A JSON list of `?n=N` (1-100, default 1) people picked at random from the register; with
    `unregistered=1` only people no citizen has registered as. Fewer than N only when the register
    runs out."""
    raw_n = request.args.get("n", "1")
    if not raw_n.isdigit() or not 1 <= int(raw_n) <= MAX_PEOPLE:
        raise ApiError(400, "invalid_request", f"n: a whole number from 1 to {MAX_PEOPLE}", field="n")
    flag = request.args.get("unregistered", "0")
    if flag not in ("0", "1"):
        raise ApiError(400, "invalid_request", "unregistered: 0 or 1", field="unregistered")
    core = current_app.extensions["core"]

    def registered(national_ids: Iterable[str]) -> set[str]:
        by_digest = {core.national_ids.digest(n): n for n in national_ids}
        taken = g.db.scalars(select(Citizen.national_id_hash).where(Citizen.national_id_hash.in_(by_digest)))
        return {by_digest[digest] for digest in taken}

    chosen = core.register.sample(int(raw_n), skip=registered if flag == "1" else None)
    # a bare list: the documented contract simulators and test tools read
    return jsonify([person.to_json() for person in chosen])
