"""`/metrics` carries the figures an alert watches: audit backlog, write failures, backend, queues, SMS."""

from __future__ import annotations

import pytest
import redis
from rq import Queue

from audit.backend import BackendObserver
from audit.live import live_collectors
from backend_client.errors import BackendUnavailable
from gateway.metrics import live_registry, render_metrics


def scrape(app) -> str:
    return app.test_client().get("/metrics").get_data(as_text=True)


def test_backlog_queue_depth_backend_and_sms_figures(app):
    trail = app.extensions["audit"]
    trail.record("operator", action="publish_tree", actor="op1")
    trail.record("sms", message_id="m9", status="failed", reason="InvalidPhoneNumber")
    Queue("default", connection=app.extensions["redis"]).enqueue("builtins.print", "hello")
    observe = BackendObserver(trail)
    observe("lookup_status", 0.12, True, None, False)
    observe("submit_application", 0.3, False, "timeout", True)
    text = scrape(app)
    assert "audit_backlog_events 3.0" in text  # two records + the failed write, not yet drained
    assert "audit_backlog_oldest_seconds" in text
    assert 'rq_queue_depth{queue="default"} 1.0' in text
    assert 'backend_request_seconds_count{operation="lookup_status"}' in text
    assert 'backend_errors_total{kind="timeout",operation="submit_application"}' in text
    assert 'sms_failures_total{reason="InvalidPhoneNumber"}' in text


def test_the_core_clients_calls_reach_metrics_and_the_trail(app):
    """The app's CoreClient reports through the hook create_app gave it: a failed write is a
    backend error on /metrics and a `backend` event in the trail."""
    core = app.extensions["core_client"]
    stream = app.extensions["redis"]
    before = stream.xlen("audit:events")
    assert not core.health()  # nothing listens on the test's core URL
    with pytest.raises(BackendUnavailable):
        core.start_payment("ECZ-NOPE00", phone="+254712345678", idempotency_key="k1")
    text = scrape(app)
    assert 'backend_errors_total{kind="connection_error",operation="POST /applications/:id/payments"}' in text
    kinds = [fields[b"kind"] for _, fields in stream.xrange("audit:events")][before:]
    assert b"backend" in kinds


def test_metrics_still_answer_when_redis_is_gone():
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.05)
    payload, _ = render_metrics(live_registry(live_collectors(dead)))
    text = payload.decode()
    assert "ussd_hops_total" in text and "audit_backlog_events" not in text
