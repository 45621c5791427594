"""What every aggregator's callback reading shares: the refusal it raises, the bounded body read and
the constant-time check of a callback secret. Each adapter parses its own format on top."""

from __future__ import annotations

import hmac

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge


class BadCallback(ValueError):
    """A callback we will not act on; `reason` is for logs and metrics, never for the citizen."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body of `request`, at most `max_bytes`. Raises `BadCallback` when it is larger."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise BadCallback("body too large")
    try:
        raw = request.stream.read(max_bytes + 1)
    except RequestEntityTooLarge:
        raise BadCallback("body too large") from None
    if len(raw) > max_bytes:
        raise BadCallback("body too large")
    return raw


def secret_ok(given: str, expected: str) -> bool:
    """True when no secret is configured or `given` equals it (constant time)."""
    return not expected or hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
