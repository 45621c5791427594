"""`/metrics` carries the figures an alert watches: audit backlog, write failures, backend, queues, SMS."""

from __future__ import annotations

import pytest
from rq import Queue

import audit
from audit.metrics import backend_call, observe_backend


def scrape(app) -> str:
    return app.test_client().get("/metrics").get_data(as_text=True)


def test_backlog_queue_depth_backend_and_sms_figures(app):
    audit.record("operator", action="publish_tree", actor="op1")
    audit.record("sms", message_id="m9", status="failed", reason="InvalidPhoneNumber")
    Queue("default", connection=app.extensions["redis"]).enqueue("builtins.print", "hello")
    observe_backend("lookup_status", 0.12, ok=True)
    with pytest.raises(TimeoutError), backend_call("submit_application", write=True, reference="ECZ-1"):
        raise TimeoutError
    text = scrape(app)
    assert "audit_backlog_events 3.0" in text  # two records + the failed write, not yet drained
    assert "audit_backlog_oldest_seconds" in text
    assert 'rq_queue_depth{queue="default"} 1.0' in text
    assert 'backend_request_seconds_count{operation="lookup_status"}' in text
    assert 'backend_errors_total{kind="TimeoutError",operation="submit_application"}' in text
    assert 'sms_failures_total{reason="InvalidPhoneNumber"}' in text


def test_metrics_still_answer_when_redis_is_gone(app):
    import redis

    from audit.metrics import install_live_collectors
    from gateway.metrics import LIVE

    install_live_collectors(LIVE, redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.05))
    text = scrape(app)
    assert "ussd_hops_total" in text and "audit_backlog_events" not in text
