"""Fixtures for the audit tests: real Redis, a migrated SQLite file, an app (see audit_support)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_support import (  # noqa: E402, F401 - fixtures
    app,
    database,
    database_url,
    redis_client,
    redis_url,
    settings,
)
