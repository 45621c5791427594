"""Health for load balancers and on-call, and `GET /metrics` for Prometheus.

- `GET /livez`: the process answers. 200 always; a load balancer never needs more to restart it.
- `GET /readyz`: this node may take hops. 200 when the session Redis accepts a write (a short-lived
  key per node) and the queue Redis does too, and the node is not draining; 503 otherwise, with
  which part failed. The database does not make a node unready: the USSD path never waits on SQL.
- `GET /healthz`: `/readyz` with the database's state and the old `redis` field, kept for one
  release for load balancers and dashboards configured before the split.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify

from gateway.metrics import render_metrics

bp = Blueprint("health", __name__)

# Long enough to outlive one probe, short enough that probe keys never pile up.
_PROBE_TTL_MS = 5000


def _node_key() -> str:
    return f"health:{socket.gethostname()}:{os.getpid()}"


def _check(probe) -> str:
    try:
        probe()
    except Exception as exc:  # any failure means "down"; say which kind
        return f"down: {type(exc).__name__}"
    return "ok"


def draining() -> bool:
    """True once the node's supervisor (tools/serve.py) started draining it after SIGTERM."""
    path = current_app.extensions["settings"].drain_file
    return bool(path) and Path(path).exists()


@bp.get("/livez")
def livez() -> tuple[Response, int]:
    return jsonify(status="ok"), 200


def _readiness(with_database: bool) -> tuple[dict[str, str], bool]:
    key = _node_key()
    session_redis = current_app.extensions["redis"]
    queue_redis = current_app.extensions.get("queue_redis", session_redis)
    body = {
        "status": "ok",
        # A write, not a PING: a primary demoted to a replica still answers PING (READONLY on writes).
        "session_redis": _check(lambda: session_redis.set(key, 1, px=_PROBE_TTL_MS)),
        "queue_redis": _check(lambda: queue_redis.set(key, 1, px=_PROBE_TTL_MS)),
    }
    if with_database:
        # Reported, never a reason to be unready: hops do not touch SQL.
        body["database"] = _check(current_app.extensions["database"].ping)
    ready = body["session_redis"] == "ok" and body["queue_redis"] == "ok"
    if draining():
        body["status"], ready = "draining", False
    elif not ready:
        body["status"] = "unavailable"
    return body, ready


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """200 when this node can answer hops; 503 (naming what failed, or "draining") otherwise.
    `?full=1` adds the database's state (for on-call; it does not change the status code)."""
    from flask import request

    body, ready = _readiness(with_database=request.args.get("full") == "1")
    return jsonify(body), 200 if ready else 503


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """`/readyz?full=1` plus the old `redis` field; for one release (docs/deploy.md)."""
    body, ready = _readiness(with_database=True)
    body["redis"] = body["session_redis"]
    return jsonify(body), 200 if ready else 503


@bp.get("/metrics")
def metrics() -> Response:
    payload, content_type = render_metrics()
    return Response(payload, mimetype=content_type.split(";")[0], content_type=content_type)
