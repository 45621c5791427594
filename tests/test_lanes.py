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


def test_remembered_url_builders_build_what_werkzeug_compiles(app):
    """tests/conftest.py compiles one URL builder per rule shape for every app of a test process:
    each must build, for every rule of the gateway, the URL Werkzeug's own builder builds."""
    from werkzeug.routing.rules import Rule

    compile_builder = Rule._compile_builder.__wrapped__
    rules = list(app.url_map.iter_rules())
    assert len(rules) > 20
    for rule in rules:
        values = {
            name: 7 if type(converter).__name__ == "IntegerConverter" else "v1"
            for name, converter in rule._converters.items()
        }
        werkzeug_build = compile_builder(rule, False).__get__(rule, None)
        werkzeug_build_unknown = compile_builder(rule, True).__get__(rule, None)
        assert rule._build(**values) == werkzeug_build(**values), rule.rule
        with_query = {**values, "page": "2"}
        assert rule._build_unknown(**with_query) == werkzeug_build_unknown(**with_query), rule.rule
