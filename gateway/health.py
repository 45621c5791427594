"""`GET /healthz` for load balancers and on-call, `GET /metrics` for Prometheus."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from prometheus_client import CollectorRegistry

from common.db import Database
from gateway.metrics import render_metrics


def _check(probe) -> str:
    try:
        probe()
    except Exception as exc:  # any failure means "down"; say which kind
        return f"down: {type(exc).__name__}"
    return "ok"


def health_blueprint(redis_client, database: Database, live: CollectorRegistry) -> Blueprint:
    """`/healthz` probes `redis_client` and `database`; `/metrics` adds the figures `live` reads at
    scrape time to every process's counters."""
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz() -> tuple[Response, int]:
        """200 when Redis and the database answer, 503 (with which one is down) otherwise."""
        redis_status = _check(redis_client.ping)
        database_status = _check(database.ping)
        healthy = redis_status == "ok" and database_status == "ok"
        body = {
            "status": "ok" if healthy else "unavailable",
            "redis": redis_status,
            "database": database_status,
        }
        return jsonify(body), 200 if healthy else 503

    @bp.get("/metrics")
    def metrics() -> Response:
        payload, content_type = render_metrics(live)
        return Response(payload, mimetype=content_type.split(";")[0], content_type=content_type)

    return bp
