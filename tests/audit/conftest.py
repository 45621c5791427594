"""Fixtures for the audit tests: real Redis, a migrated database per test, an app (see audit_support)."""

from tests.audit.audit_support import (  # noqa: F401 - fixtures
    app,
    database,
    redis_url,
    settings,
)
