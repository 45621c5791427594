"""Prometheus figures an alert would watch: audit write failures, core-service latency and errors,
SMS failures. Metric definitions only; live figures read from Redis at scrape time (audit backlog,
queue depth) are collectors in `audit.live`, registered by `create_app` on the app's own registry.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

AUDIT_WRITE_FAILURES = Counter(
    "audit_write_failures_total",
    "Audit events that could not be written: to the stream (event lost) or to SQL (batch retried)",
    ["stage"],
)
AUDIT_RECORDS_WRITTEN = Counter("audit_records_written_total", "Audit records committed to SQL")
BACKEND_LATENCY = Histogram(
    "backend_request_seconds",
    "Time of one call to the core service, by operation",
    ["operation"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0),
)
BACKEND_ERRORS = Counter(
    "backend_errors_total", "Failed calls to the core service, by operation and kind", ["operation", "kind"]
)
SMS_FAILURES = Counter("sms_failures_total", "SMS that failed to send or deliver, by reason", ["reason"])
