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

from flask import Blueprint, Response, jsonify, request
from prometheus_client import CollectorRegistry

from common.db import Database
from gateway.metrics import render_metrics

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


def health_blueprint(
    session_redis,
    queue_redis,
    database: Database,
    live: CollectorRegistry,
    drain_file: str = "",
) -> Blueprint:
    """`/livez`, `/readyz` (and `/healthz`, its alias for one release) probe this node's stores;
    `/metrics` adds the figures `live` reads at scrape time to every process's counters.
    `drain_file`: the file whose existence means the node's supervisor (tools/serve.py) is draining it."""
    bp = Blueprint("health", __name__)

    def draining() -> bool:
        return bool(drain_file) and Path(drain_file).exists()

    def readiness(with_database: bool) -> tuple[dict[str, str], bool]:
        key = _node_key()
        body = {
            "status": "ok",
            # A write, not a PING: a primary demoted to a replica still answers PING (READONLY on writes).
            "session_redis": _check(lambda: session_redis.set(key, 1, px=_PROBE_TTL_MS)),
            "queue_redis": _check(lambda: queue_redis.set(key, 1, px=_PROBE_TTL_MS)),
        }
        if with_database:
            # Reported, never a reason to be unready: hops do not touch SQL.
            body["database"] = _check(database.ping)
        ready = body["session_redis"] == "ok" and body["queue_redis"] == "ok"
        if draining():
            body["status"], ready = "draining", False
        elif not ready:
            body["status"] = "unavailable"
        return body, ready

    @bp.get("/livez")
    def livez() -> tuple[Response, int]:
        return jsonify(status="ok"), 200

    @bp.get("/readyz")
    def readyz() -> tuple[Response, int]:
        """200 when this node can answer hops; 503 (naming what failed, or "draining") otherwise.
        `?full=1` adds the database's state (for on-call; it does not change the status code)."""
        body, ready = readiness(with_database=request.args.get("full") == "1")
        return jsonify(body), 200 if ready else 503

    @bp.get("/healthz")
    def healthz() -> tuple[Response, int]:
        """`/readyz?full=1` plus the old `redis` field; for one release (docs/deploy.md)."""
        body, ready = readiness(with_database=True)
        body["redis"] = body["session_redis"]
        return jsonify(body), 200 if ready else 503

    @bp.get("/metrics")
    def metrics() -> Response:
        payload, content_type = render_metrics(live)
        return Response(payload, mimetype=content_type.split(";")[0], content_type=content_type)

    return bp
