"""Analytics over the audit trail: sessions, drop-off, funnels, SMS, core service, feedback."""

from flask import Flask


def register_analytics(app: Flask) -> None:
    """Add `/api/v1/analytics/…` and `/console/analytics…` to `app`."""
