"""Fixtures for the audit and analytics tests: the project-wide Redis and a migrated database per
test on SQLite and PostgreSQL (tests/conftest.py), and an app wired to both."""

from __future__ import annotations

import pytest
import redis

from app import create_app
from common.db import Database
from config import Settings


@pytest.fixture(scope="session")
def redis_url(redis_server) -> str:
    """The project-wide Redis (tests/conftest.py)."""
    return redis_server.url


@pytest.fixture
def database(database_url: str) -> Database:
    return Database(database_url)


@pytest.fixture
def settings(redis_url: str, database_url: str, database: Database) -> Settings:
    return Settings(
        redis_url=redis_url,
        database_url=database_url,
        rate_limit_per_minute=1_000_000,
        log_level="WARNING",
    )


@pytest.fixture
def app(settings: Settings, redis_client: redis.Redis):
    application = create_app(settings)
    application.config["TESTING"] = True
    return application
