"""Strict reading of aggregators' JSON callbacks (Hubtel, Arkesel): bounded size, UTF-8, one JSON
object, keys matched case-insensitively, typed fields; and the callback secret.

Every problem raises `BadCallback` with a reason for logs and metrics, never for the citizen: the
adapter answers it with a polite end in its own reply shape.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

MAX_JSON_BYTES = 8192


class BadCallback(ValueError):
    """A callback we will not act on; `reason` is for logs and metrics, never for the citizen."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in pairs:
        if key in fields:
            raise BadCallback(f"key {key[:32]!r} given twice")
        fields[key] = value
    return fields


def read_json(request: Request, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The body of `request` as one JSON object whose keys are lower-cased, whatever the
    Content-Type (neither vendor documents theirs). Raises `BadCallback` for anything else,
    including two keys that differ only in case."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise BadCallback("body too large")
    try:
        raw = request.stream.read(max_bytes + 1)
    except RequestEntityTooLarge:
        raise BadCallback("body too large") from None
    if len(raw) > max_bytes:
        raise BadCallback("body too large")
    try:
        document = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadCallback(exc.reason if isinstance(exc, BadCallback) else "not JSON") from None
    if not isinstance(document, dict):
        raise BadCallback("not a JSON object")
    return _unique_keys([(key.lower(), value) for key, value in document.items()])


def text(fields: dict[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    """The string field `name` (lower-case) of at most `limit` characters; "" when absent or null
    and not `required`."""
    value = fields.get(name)
    if value is None:
        if required:
            raise BadCallback(f"missing {name}")
        return ""
    if not isinstance(value, str):
        raise BadCallback(f"{name} is not a string")
    if len(value) > limit:
        raise BadCallback(f"{name} over {limit} characters")
    return value


def echo(fields: object, name: str, limit: int = 64) -> str:
    """Best effort, for the reply to a malformed callback: the string field `name`, or ""."""
    value = fields.get(name) if isinstance(fields, dict) else None
    return value if isinstance(value, str) and len(value) <= limit else ""


def token_ok(given: str, expected: str) -> bool:
    """True when no secret is configured or `given` equals it (constant time)."""
    return not expected or hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
