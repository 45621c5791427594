"""Strict reading of aggregators' JSON callbacks (Hubtel, Arkesel): bounded size, UTF-8, one JSON
object, keys matched case-insensitively, typed fields; and the callback secret.

Every problem raises `BadCallback` with a reason for logs and metrics, never for the citizen: the
adapter answers it with a polite end in its own reply shape.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.callbacks import BadCallback, CallbackRequest, read_body

__all__ = ["BadCallback", "echo", "read_json", "text"]

MAX_JSON_BYTES = 8192


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in pairs:
        if key in fields:
            raise BadCallback(f"key {key[:32]!r} given twice")
        fields[key] = value
    return fields


def read_json(given: CallbackRequest, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The body of `given` as one JSON object whose keys are lower-cased, whatever the
    Content-Type (neither vendor documents theirs). Raises `BadCallback` for anything else,
    including two keys that differ only in case."""
    raw = read_body(given, max_bytes)
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
