"""The test lanes keep their promises: a `sql_free` test runs once, on SQLite, and one that runs SQL
after all is failed rather than quietly losing its PostgreSQL run."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.sql_free


def test_a_sql_free_test_runs_on_sqlite_only(request, database_url):
    assert database_url.startswith("sqlite:///")
    assert request.node.name.endswith("[sqlite]")


@pytest.mark.xfail(strict=True, reason="marked sql_free but runs SQL: the lane must fail it")
def test_a_sql_free_test_that_runs_sql_is_failed(database_url):
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()


@pytest.mark.uses_sql
def test_uses_sql_brings_back_both_databases(request, database_url):
    assert request.node.callspec.params["database_url"] in {"sqlite", "postgresql"}
