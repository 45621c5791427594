"""The one contract of an aggregator's callback, whoever serves it, and what every callback's
reading shares: the refusal it raises, the bounded body read and the constant-time secret check.

An aggregator's USSD callback is an `Callback`: a plain function of a `CallbackRequest`
returning a `CallbackAnswer`, with the path it answers and the polite answer it falls back on. It is
written once and served two ways with the same behaviour: by the callback lane in front of Flask
(gateway/lane.py, the hot path) and by a Flask route (`callback_blueprint`, when CALLBACK_LANE=0). Each
adapter parses its own format (forms, JSON) on top of `read_body`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from flask import Blueprint, Request, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from common.logs import get_logger
from gateway import metrics

log = get_logger("gateway.callbacks")


class BadCallback(ValueError):
    """A callback we will not act on; `reason` is for logs and metrics, never for the citizen."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """What an aggregator callback may look at, whoever parsed the HTTP request.

    `query` holds the query string's parameters (the first value of each); `read(n)` reads at most
    `n` bytes of the body, once; `remote_addr` is the client's address (the one the outermost trusted
    proxy saw, behind `TRUSTED_PROXY_COUNT` proxies); `token` is the last path segment of a
    `<path>/<token>` callback URL, "" when there is none; `header(name)` is a request header's
    value (any case of `name`), None when absent.
    """

    query: dict[str, str]
    mimetype: str
    content_length: int | None
    read: Callable[[int], bytes]
    remote_addr: str | None = None
    token: str = ""
    header: Callable[[str], str | None] = lambda _name: None


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """The HTTP answer to a callback: status, body text and its media type (sent as UTF-8)."""

    status: int
    body: str
    mimetype: str = "text/plain"


class Callback(Protocol):
    """A callback the gateway answers.

    `path` is the URL it answers (`POST` only); with `takes_token`, `<path>/<token>` too (the
    secret carried in the path). `fallback` is the answer when answering raised: for a USSD
    callback a polite end in the aggregator's own shape with HTTP 200, never a 5xx; for a report or
    a webhook a 503 its sender retries. `name` names it in logs and Flask's endpoints.
    """

    name: str
    path: str
    takes_token: bool
    fallback: CallbackAnswer

    def __call__(self, given: CallbackRequest) -> CallbackAnswer: ...


def answer(callback: Callback, given: CallbackRequest) -> CallbackAnswer:
    """`callback`'s answer to `given`; its `fallback` (counted and logged) if it raised."""
    try:
        return callback(given)
    except Exception:
        metrics.HOP_ERRORS.labels("unhandled").inc()
        log.exception("unhandled error in a callback", callback=callback.name)
        return callback.fallback


def from_flask(flask_request: Request, token: str = "") -> CallbackRequest:
    """The `CallbackRequest` of a request Flask parsed, for a callback served by a Flask route."""

    def read(n: int) -> bytes:
        # Opened on first read, as the lane does: a refused callback never touches its body.
        return flask_request.stream.read(n)

    return CallbackRequest(
        {name: flask_request.args[name] for name in flask_request.args},
        flask_request.mimetype or "",
        flask_request.content_length,
        read,
        flask_request.remote_addr,
        token,
        flask_request.headers.get,
    )


def callback_blueprint(name: str, *callbacks: Callback) -> Blueprint:
    """A blueprint `name` with a Flask route per callback: `POST callback.path` (and
    `<path>/<token>` when it takes one). Flask answers these when the callback lane is off, and
    any method but POST on them either way."""
    blueprint = Blueprint(name, __name__)
    for callback in callbacks:
        view = _flask_view(callback)
        blueprint.add_url_rule(callback.path, callback.name, view, methods=["POST"])
        if callback.takes_token:
            rule = f"{callback.path}/<token>"
            blueprint.add_url_rule(rule, f"{callback.name}_token", view, methods=["POST"])
    return blueprint


def _flask_view(callback: Callback) -> Callable[..., Response]:
    def view(token: str = "") -> Response:
        reply = answer(callback, from_flask(request, token))
        return Response(reply.body, status=reply.status, mimetype=reply.mimetype)

    return view


def read_body(given: CallbackRequest, max_bytes: int) -> bytes:
    """The raw body of `given`, at most `max_bytes`. Raises `BadCallback` when it is larger."""
    if given.content_length is not None and given.content_length > max_bytes:
        raise BadCallback("body too large")
    try:
        raw = given.read(max_bytes + 1)
    except RequestEntityTooLarge:
        raise BadCallback("body too large") from None
    if len(raw) > max_bytes:
        raise BadCallback("body too large")
    return raw


def json_answer(document: dict[str, Any], status: int = 200) -> CallbackAnswer:
    """`document` as a JSON answer (compact UTF-8)."""
    return CallbackAnswer(status, orjson.dumps(document).decode("utf-8"), "application/json")


def refusal(error: str, reason: str, status: int = 400) -> CallbackAnswer:
    """The JSON answer an API caller gets when a callback is refused: `{"error", "reason"}`."""
    return json_answer({"error": error, "reason": reason}, status)


def secret_ok(given: str, expected: str) -> bool:
    """True when no secret is configured or `given` equals it (constant time)."""
    return not expected or hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def secret_of(given: CallbackRequest) -> str:
    """The secret a callback carries: its path token, else its `?key=`."""
    return given.token or given.query.get("key", "")
