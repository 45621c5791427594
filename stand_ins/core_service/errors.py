"""The one error type views raise, and handlers that turn every failure into a JSON answer."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A 4xx answer: `{"error": code, "message": message, **extra}` with `status`."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def _error(status: int, code: str, message: str, **extra: Any):
    response = jsonify({"error": code, "message": message, **extra})
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    """Every failure becomes JSON; a bug is a 500 JSON without details, never an HTML page."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        response = _error(exc.status, exc.code, exc.message, **exc.extra)
        if exc.status in (423, 429) and "retry_after" in exc.extra:
            response.headers["Retry-After"] = str(exc.extra["retry_after"])
        if exc.status == 401:
            response.headers.setdefault("WWW-Authenticate", "Bearer")
        return response

    @app.errorhandler(ValidationError)
    def _validation_error(exc: ValidationError):
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        message = f"{field}: {first['msg']}" if field else first["msg"]
        return _error(400, "invalid_request", message, field=field)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return _error(exc.code or 400, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # logged without request data: the body may hold a PIN or a national ID
        log.exception("unhandled error: %s", type(exc).__name__)
        return _error(500, "internal_error", "Something went wrong on our side; try again later.")
