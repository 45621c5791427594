"""Shared fixtures: one real Redis per test session, a fresh database and app per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from config import Settings
from tests.support import RedisServer, free_port

os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# argon2 at its real cost only where a test measures it (tests/security/test_login_flood.py).
os.environ.setdefault("PASSWORD_HASH_PROFILE", "cheapest")

SERVICE = "*384*123#"
PHONE = "+254712345678"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture()
def redis_client(redis_server: RedisServer) -> redis.Redis:
    client = redis_server.client()
    client.flushdb()
    return client


@pytest.fixture()
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gateway.db'}"


@pytest.fixture()
def settings(redis_server: RedisServer, redis_client: redis.Redis, database_url: str) -> Settings:
    # A port nothing listens on: a test that wants the core service starts one and says so, and no
    # test reaches a developer's own `make run` on 8010.
    return Settings.from_env(
        redis_url=redis_server.url,
        database_url=database_url,
        log_level="WARNING",
        core_url=f"http://127.0.0.1:{free_port()}",
    )


@pytest.fixture()
def app(settings: Settings):
    from app import create_app

    application = create_app(settings)
    application.extensions["database"].upgrade()
    application.config["TESTING"] = True
    return application


@pytest.fixture()
def client(app):
    return app.test_client()


class Dialler:
    """Plays a phone against the Africa's Talking callback: keeps the transcript like AT does."""

    def __init__(
        self, client, phone: str = PHONE, session_id: str = "ATUid_test0001", service: str = SERVICE
    ) -> None:
        self.client = client
        self.phone = phone
        self.session_id = session_id
        self.service = service
        self.keys: list[str] = []

    def post(self, text: str) -> str:
        response = self.client.post(
            "/ussd/africastalking",
            data={
                "sessionId": self.session_id,
                "serviceCode": self.service,
                "phoneNumber": self.phone,
                "networkCode": "63902",
                "text": text,
            },
        )
        assert response.status_code == 200
        assert response.mimetype == "text/plain"
        return response.get_data(as_text=True)

    def dial(self, *deep_keys: str) -> str:
        self.keys = list(deep_keys)
        return self.post("*".join(self.keys))

    def press(self, key: str) -> str:
        self.keys.append(key)
        return self.post("*".join(self.keys))


@pytest.fixture()
def phone(client) -> Dialler:
    return Dialler(client)
