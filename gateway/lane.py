"""The callback lane: callbacks answered by a plain WSGI path in front of Flask.

An aggregator's USSD callback is the hot path: every key press of every citizen; its delivery
reports and the core service's status webhook come one per SMS. Flask's per-request work (request
and response objects, URL matching, contexts, signals) costs more CPU than answering most of them,
so `CallbackLane` wraps `Flask.wsgi_app` and answers `POST` to a callback's path by calling the
`Callback` (gateway/callbacks.py) directly: one parse of the body, no framework object, reply
headers built once. Every other request (and any method but POST on a callback's path) goes to
Flask unchanged.

The lane sits inside `ProxyFix` (when TRUSTED_PROXY_COUNT is set), so the address it hands on is
the client's as the trusted proxy saw it, and it adds the same security headers Flask adds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from urllib.parse import parse_qs

from gateway.callbacks import Callback, CallbackRequest, answer

_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


class CallbackLane:
    """WSGI middleware: `POST` to an added callback's path is answered by that callback, the rest
    by `app` (Flask's `wsgi_app`). `headers` are added to every answer of the lane (the security
    headers Flask adds to its own responses). Build it in `create_app`, add each callback once."""

    def __init__(self, app: Callable, headers: Mapping[str, str] | None = None) -> None:
        self.app = app
        self._exact: dict[str, Callback] = {}
        self._with_token: dict[str, Callback] = {}
        self._headers = list((headers or {}).items())
        self._content_types: dict[str, tuple[str, str]] = {}

    def add(self, callback: Callback) -> None:
        """Serve `POST callback.path` (and `<path>/<token>` when it takes one) with `callback`."""
        self._exact[callback.path] = callback
        if callback.takes_token:
            self._with_token[callback.path] = callback

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(self._exact)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        callback = self._exact.get(path)
        token = ""
        if callback is None and self._with_token:
            prefix, _, token = path.rpartition("/")
            callback = self._with_token.get(prefix) if token else None
        if callback is None or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        if token and not token.isascii():
            # WSGI hands the path over as latin-1 of its bytes; Flask reads a segment as UTF-8.
            token = token.encode("latin-1").decode("utf-8", "replace")
        reply = answer(callback, _request(environ, token))
        body = reply.body.encode("utf-8")
        status = _STATUS_LINES.get(reply.status) or f"{reply.status} Callback"
        content_type = self._content_types.get(reply.mimetype)
        if content_type is None:
            content_type = ("Content-Type", f"{reply.mimetype}; charset=utf-8")
            self._content_types[reply.mimetype] = content_type
        start_response(status, [content_type, ("Content-Length", str(len(body))), *self._headers])
        return [body]


def _request(environ: dict, token: str) -> CallbackRequest:
    length_text = environ.get("CONTENT_LENGTH") or ""
    try:
        content_length = max(int(length_text), 0) if length_text else None
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
    query_string = environ.get("QUERY_STRING", "")
    query = {name: values[0] for name, values in parse_qs(query_string).items()} if query_string else {}

    def header(name: str) -> str | None:
        return environ.get("HTTP_" + name.upper().replace("-", "_"))

    return CallbackRequest(query, mimetype, content_length, read, environ.get("REMOTE_ADDR"), token, header)


def _empty(_n: int) -> bytes:
    return b""
