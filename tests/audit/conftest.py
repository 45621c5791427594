"""Fixtures for the audit tests: real Redis, a migrated SQLite file, an app (see audit_support)."""

from tests.audit.audit_support import (  # noqa: F401 - fixtures
    app,
    database,
    database_url,
    redis_client,
    redis_url,
    settings,
)
