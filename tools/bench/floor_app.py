"""The floor of this stack: a bare Flask + redis-py handler doing one GET and one SET per hop.

Served exactly like the gateway (granian, WSGI, same workers and threads) so the ratio of the two
says what our own code costs.
"""

from __future__ import annotations

import os

import redis
from flask import Flask, Response, request


def create_app() -> Flask:
    app = Flask(__name__)
    client = redis.Redis.from_url(os.environ["REDIS_URL"])

    @app.post("/ussd/africastalking")
    def hop() -> Response:
        key = "floor:" + request.form["sessionId"]
        client.get(key)
        client.set(key, request.form["text"], ex=180)
        return Response("CON Welcome to eCitizen", mimetype="text/plain")

    return app
