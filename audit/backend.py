"""How calls to the core service are observed: time and outcome to Prometheus, writes to the trail.

`backend_client` knows nothing of this package: `create_app` passes a `BackendObserver` as the
CoreClient's `observe` hook.
"""

from __future__ import annotations

from audit import metrics
from audit.trail import AuditTrail


class BackendObserver:
    """The CoreClient's `observe(operation, seconds, ok, error, write)` hook. Never raises."""

    def __init__(self, trail: AuditTrail | None) -> None:
        self.trail = trail

    def __call__(self, operation: str, seconds: float, ok: bool, error: str | None, write: bool) -> None:
        """`error` is a short kind (`timeout`, `unavailable`, `wrong_pin`…), never a response body;
        a refusal the core service answered counts as ok (it is an answer, not a fault)."""
        metrics.BACKEND_LATENCY.labels(operation).observe(seconds)
        if not ok:
            metrics.BACKEND_ERRORS.labels(operation, error or "error").inc()
        if write and self.trail is not None:
            self.trail.record(
                "backend", operation=operation, ok=ok, error=error, latency_ms=round(seconds * 1000, 3)
            )
