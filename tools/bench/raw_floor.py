"""The lowest floor: a raw WSGI handler (no framework) doing the floor's work, one GET and one SET.

Served by granian exactly like the gateway, it says what Python, the server and Redis cost on
their own; the Flask floor (floor_app.py) adds the framework's per-request work on top.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs

import redis

_HEADERS = [("Content-Type", "text/plain; charset=utf-8")]
_BODY = b"CON Welcome to eCitizen"


def create_app():
    client = redis.Redis.from_url(os.environ["REDIS_URL"])

    def hop(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = parse_qs(environ["wsgi.input"].read(length).decode("utf-8"), keep_blank_values=True)
        key = "floor:" + form["sessionId"][0]
        client.get(key)
        client.set(key, form["text"][0], ex=180)
        start_response("200 OK", [*_HEADERS, ("Content-Length", str(len(_BODY)))])
        return [_BODY]

    return hop
