"""Idempotent writes: the first 2xx answer to (scope, Idempotency-Key) is stored in the same
transaction as the write and replayed (as 200) to any repeat with the same body; a repeat with a
different body is a 409."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stand_ins.core_service.errors import ApiError
from stand_ins.core_service.models import IdempotencyRecord

KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{8,100}$")
# never part of a stored fingerprint: a fast hash of a 4-digit PIN is a 4-digit PIN
SECRET_FIELDS = frozenset({"pin"})

ViewResult = tuple[dict[str, Any], int]


def fingerprint(scope: str, body: Any) -> str:
    """A stable digest of the request, without secret fields."""
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in SECRET_FIELDS}
    canonical = json.dumps([scope, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(db: Session, scope: str, key: str, print_: str):
    record = db.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
    )
    if record is None:
        return None
    if record.fingerprint != print_:
        raise ApiError(
            409, "idempotency_key_reused", "This Idempotency-Key was already used for a different request."
        )
    response = jsonify(json.loads(record.body_json))
    # a replay is not a creation: 200 with the original body
    response.status_code = 200 if record.status_code == 201 else record.status_code
    response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent_write(required: bool = False, authorize: Callable[..., None] | None = None) -> Callable:
    """Decorate a view returning (body, status) that writes through `g.db` without committing.

    The decorator commits; with an Idempotency-Key it first replays a stored answer, and stores a
    new 2xx answer in the same transaction, so a concurrent twin fails on the unique key and gets
    the replay instead of a duplicate. `authorize(**view_args)`, when given, runs before any replay
    and raises to refuse: a stranger holding someone's key gets the refusal, not their answer.
    """

    def decorate(view: Callable[..., ViewResult]) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            db: Session = g.db
            key = request.headers.get("Idempotency-Key")
            if key is None and required:
                raise ApiError(400, "idempotency_key_required", "Send an Idempotency-Key header.")
            if key is not None and not KEY_PATTERN.match(key):
                raise ApiError(
                    400, "invalid_idempotency_key", "Idempotency-Key: 8-100 of A-Z a-z 0-9 . _ : -"
                )
            if authorize is not None:
                authorize(*args, **kwargs)
            scope = f"{request.method} {request.path}"
            print_ = fingerprint(scope, request.get_json(silent=True))
            if key is not None and (replay := _replay(db, scope, key, print_)) is not None:
                return replay
            body, status = view(*args, **kwargs)
            if key is not None and 200 <= status < 300:
                db.add(
                    IdempotencyRecord(
                        scope=scope,
                        key=key,
                        fingerprint=print_,
                        status_code=status,
                        body_json=json.dumps(body),
                    )
                )
            try:
                db.commit()
            except IntegrityError:
                db.rollback()
                if key is not None and (replay := _replay(db, scope, key, print_)) is not None:
                    return replay
                raise
            current_app.extensions["core"].wake()
            response = jsonify(body)
            response.status_code = status
            return response

        return wrapper

    return decorate
