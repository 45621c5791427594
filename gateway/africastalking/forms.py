"""Strict reading of aggregator form posts: UTF-8 only, bounded sizes, no surprises."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from urllib.parse import parse_qs

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

MAX_FORM_BYTES = 4096


class BadCallback(ValueError):
    """A callback we will not act on; `reason` is for logs and metrics, never for the citizen."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_form(request: Request, max_bytes: int = MAX_FORM_BYTES) -> dict[str, str]:
    """The form fields of `request`, each given once. Raises `BadCallback` for anything else."""
    try:
        return parse_form(request.mimetype or "", request.content_length, request.stream.read, max_bytes)
    except RequestEntityTooLarge:
        raise BadCallback("body too large") from None


def parse_form(
    mimetype: str, content_length: int | None, read: Callable[[int], bytes], max_bytes: int = MAX_FORM_BYTES
) -> dict[str, str]:
    """The fields of a form body read with `read(n)`, each given once; no web framework needed.
    Raises `BadCallback` for a foreign content type, a body over `max_bytes`, undecodable bytes or
    a field given twice."""
    if mimetype != "application/x-www-form-urlencoded":
        raise BadCallback(f"content type {mimetype or 'missing'}")
    if content_length is not None and content_length > max_bytes:
        raise BadCallback("body too large")
    raw = read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise BadCallback("body too large")
    try:
        body = raw.decode("utf-8")
        fields = parse_qs(body, keep_blank_values=True, errors="strict", max_num_fields=40)
    except (UnicodeDecodeError, ValueError):
        raise BadCallback("undecodable body") from None
    form: dict[str, str] = {}
    for name, values in fields.items():
        if len(values) != 1:
            raise BadCallback(f"field {name} given {len(values)} times")
        form[name] = values[0]
    return form


def require(form: dict[str, str], limits: dict[str, int]) -> dict[str, str]:
    """Check that each field in `limits` is present and at most that long."""
    for name, limit in limits.items():
        if name not in form:
            raise BadCallback(f"missing {name}")
        if len(form[name]) > limit:
            raise BadCallback(f"{name} over {limit} characters")
    return form


def secret_ok(given: str, expected: str) -> bool:
    """True when no secret is configured or `given` matches it (constant time)."""
    return not expected or hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
