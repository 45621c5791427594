"""Fixtures for the console: the project-wide Redis, a migrated database per test (SQLite and
PostgreSQL, see tests/conftest.py) with the menu versions seeded, an app, and operators of every role.

Names start with `console_` so they never shadow the project-wide fixtures in tests/conftest.py.
"""

from __future__ import annotations

import os

import pytest
from argon2 import PasswordHasher

os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ.setdefault("LOG_LEVEL", "WARNING")

PASSWORD = "correct horse battery"
SERVICE = "*384*123#"
PHONE = "+254712345678"
ROLES = ("viewer", "editor", "publisher", "admin")


@pytest.fixture(scope="session")
def console_redis_url(redis_server) -> str:
    """The project-wide Redis (tests/conftest.py)."""
    return redis_server.url


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Production argon2 costs ~50 ms a hash on purpose; tests only need it to be argon2.
    import console.operators

    monkeypatch.setattr(
        console.operators, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture()
def console_app(console_redis_url: str, redis_client, database_url: str):
    from app import create_app
    from config import Settings
    from console.operators import create_operator

    settings = Settings.from_env(
        redis_url=console_redis_url,
        database_url=database_url,
        log_level="WARNING",
        log_format="console",
    )
    application = create_app(settings)
    application.config["TESTING"] = True
    assert application.extensions["menu_store"].start()  # what `flask --app app menus seed` does
    with application.extensions["database"].session() as db:
        for role in ROLES:
            create_operator(db, f"{role}@example.org", PASSWORD, role)
    return application


def login(client, email: str, password: str = PASSWORD):
    """Log a test client in through the real form (CSRF token included); returns the response."""
    client.get("/console/login")
    with client.session_transaction() as session:
        token = session["csrf"]
    return client.post("/console/login", data={"email": email, "password": password, "csrf_token": token})


class ConsoleClient:
    """A logged-in browser-like client: sends the session's CSRF token on every call."""

    def __init__(self, client, role: str) -> None:
        self.client = client
        response = login(client, f"{role}@example.org")
        assert response.status_code == 302, response.get_data(as_text=True)
        with client.session_transaction() as session:
            self.csrf = session["csrf"]

    def call(self, method: str, path: str, json=None):
        return self.client.open(path, method=method, json=json, headers={"X-CSRF-Token": self.csrf})


@pytest.fixture()
def as_role(console_app):
    def make(role: str) -> ConsoleClient:
        return ConsoleClient(console_app.test_client(), role)

    return make


def dial(client, text: str = "", session_id: str = "ATUid_console1") -> str:
    response = client.post(
        "/ussd/africastalking",
        data={
            "sessionId": session_id,
            "serviceCode": SERVICE,
            "phoneNumber": PHONE,
            "networkCode": "63902",
            "text": text,
        },
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)
