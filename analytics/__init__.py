"""Analytics over the audit trail: sessions, drop-off, funnels, SMS, core service, feedback.

JSON/CSV at `/api/v1/analytics/…`, console pages at `/console/analytics…`, both behind
`analytics.access.require_operator`.
"""

from flask import Flask


def register_analytics(app: Flask) -> None:
    """Add `/api/v1/analytics/…` and `/console/analytics…` to `app`."""
    from analytics.api import bp as api_bp
    from analytics.console import bp as console_bp

    app.register_blueprint(api_bp)
    app.register_blueprint(console_bp)
