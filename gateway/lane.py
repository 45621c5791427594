"""The callback lane: aggregator callbacks answered by a plain WSGI path in front of Flask.

An aggregator's USSD callback is the hot path: every key press of every citizen. Flask's per-request
work (request and response objects, URL matching, contexts, signals) costs more CPU than the hop
itself, so `CallbackLane` wraps `Flask.wsgi_app` and answers a registered `POST` path by calling the
adapter's answer function directly: one parse of the body, no framework object, reply headers built
once. Every other request (and any method but POST on a lane path) goes to Flask unchanged.

An adapter writes its callback once as `answer(CallbackRequest) -> CallbackAnswer` and serves it
both ways: `flask_view(answer)` for its blueprint route, `lane.add(path, answer)` for the lane. The
two therefore behave the same (secret, size limits, polite END for garbage, metrics); the lane adds
only a last line of defence: an exception still gets a polite `END` with HTTP 200, never a 5xx.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs

from flask import Response, request

from common.logs import get_logger
from gateway import metrics
from gateway.replies import polite

log = get_logger("gateway.lane")

_STATUS_LINES = {200: "200 OK", 400: "400 Bad Request", 403: "403 Forbidden", 413: "413 Content Too Large"}
_TEXT_PLAIN = ("Content-Type", "text/plain; charset=utf-8")
_LAST_RESORT = ("END " + polite("error")).encode("utf-8")


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """What an aggregator callback may look at, whoever parsed the HTTP request.

    `query` holds the query string's parameters (first value of each); `read(n)` reads at most
    `n` bytes of the body, once.
    """

    query: dict[str, str]
    mimetype: str
    content_length: int | None
    read: Callable[[int], bytes]


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """The HTTP answer to a callback: status, body text and its media type (UTF-8)."""

    status: int
    body: str
    mimetype: str = "text/plain"


Answer = Callable[[CallbackRequest], CallbackAnswer]


def _query(query_string: str) -> dict[str, str]:
    if not query_string:
        return {}
    return {name: values[0] for name, values in parse_qs(query_string).items()}


def flask_view(answer: Answer) -> Callable[[], Response]:
    """A Flask view function serving `answer`, for the adapter's blueprint route."""

    def view() -> Response:
        given = CallbackRequest(
            {name: request.args[name] for name in request.args},
            request.mimetype or "",
            request.content_length,
            request.stream.read,
        )
        reply = answer(given)
        return Response(reply.body, status=reply.status, mimetype=reply.mimetype)

    view.__name__ = getattr(answer, "__name__", "callback")
    return view


class CallbackLane:
    """WSGI middleware: `POST` to a registered path is answered by its adapter function, the rest
    by `app` (Flask's `wsgi_app`). Build it in `create_app` and register each callback path once."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        self._answers: dict[str, Answer] = {}
        self._content_types: dict[str, tuple[str, str]] = {"text/plain": _TEXT_PLAIN}

    def add(self, path: str, answer: Answer) -> None:
        """Serve `POST path` with `answer`."""
        self._answers[path] = answer

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(self._answers)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        answer = self._answers.get(environ.get("PATH_INFO", ""))
        if answer is None or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        try:
            reply = answer(_request(environ))
            body = reply.body.encode("utf-8")
            status = _STATUS_LINES.get(reply.status) or f"{reply.status} Callback"
            content_type = self._content_types.get(reply.mimetype) or (
                "Content-Type",
                f"{reply.mimetype}; charset=utf-8",
            )
        except Exception:
            metrics.HOP_ERRORS.labels("unhandled").inc()
            log.exception("unhandled error in a callback", path=environ.get("PATH_INFO"))
            body, status, content_type = _LAST_RESORT, "200 OK", _TEXT_PLAIN
        start_response(status, [content_type, ("Content-Length", str(len(body)))])
        return [body]


def _request(environ: dict) -> CallbackRequest:
    length_text = environ.get("CONTENT_LENGTH") or ""
    try:
        content_length = int(length_text) if length_text else None
    except ValueError:
        content_length = None
    stream = environ["wsgi.input"]
    if content_length is None and not environ.get("wsgi.input_terminated"):
        # No length and no chunked body the server ended for us: reading could wait forever.
        read = _empty
    elif content_length is not None:
        # Never read past the declared body: on a kept-alive connection the next request follows.
        def read(n: int) -> bytes:
            return stream.read(min(n, content_length))
    else:
        read = stream.read
    mimetype = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    return CallbackRequest(_query(environ.get("QUERY_STRING", "")), mimetype, content_length, read)


def _empty(_n: int) -> bytes:
    return b""
