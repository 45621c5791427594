from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from stand_ins.core_service import create_app

ADMIN = {"Authorization": "Bearer test-admin-token"}
PHONE = "+254712345678"
PIN = "4826"
GOOD_CONDUCT = {"service_code": "good_conduct", "answers": {"purpose": "employment", "county": "Nairobi"}}
ID_HASH_KEY = "test-id-hash-key-that-is-only-for-tests"


def core_config(tmp_path: Any, **overrides: Any) -> dict[str, Any]:
    """Fast settings for tests: cheap PIN hashing, tiny delays, a temp SQLite file.

    The population register is generated once per test session (per xdist worker) beside the
    tests' temp folders: it never changes, and 10,000 people take a moment to write.
    """
    return {
        "VAR_DIR": tmp_path,
        "DATABASE_URL": f"sqlite:///{tmp_path}/core.db",
        "REGISTER_URL": f"sqlite:///{Path(tmp_path).parent}/core-register.db",
        "ID_HASH_KEY": ID_HASH_KEY,
        "PIN_HASH_PROFILE": "cheapest",
        "ADMIN_TOKEN": "test-admin-token",
        "WEBHOOK_SECRET": "test-secret",
        "GATEWAY_WEBHOOK_URL": "http://127.0.0.1:9/unused",
        "PAYMENT_DELAY_S": 0.05,
        "TICK_S": 0.02,
        "WEBHOOK_RETRY_BASE_S": 0.05,
        "WEBHOOK_RETRY_MAX_S": 0.2,
        "WEBHOOK_TIMEOUT_S": 1.0,
        "BACKGROUND": False,
    } | overrides


@pytest.fixture
def app(tmp_path, request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The core service on `core_config`, with a test's `@pytest.mark.core_config(KEY=value)`."""
    marker = request.node.get_closest_marker("core_config")
    app = create_app(core_config(tmp_path, **(marker.kwargs if marker else {})))
    yield app
    app.extensions["core"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def people(client: FlaskClient, n: int = 1) -> list[dict[str, str]]:
    """`n` unregistered people from the core's register, through its development endpoint."""
    response = client.get("/dev/people", query_string={"unregistered": 1, "n": n})
    assert response.status_code == 200, response.json
    assert len(response.json) == n
    return response.json


def registration(person: dict[str, str], phone: str = PHONE, pin: str = PIN) -> dict[str, str]:
    """The body of POST /citizens for `person` (from the register) on `phone`."""
    return person | {"phone": phone, "pin": pin}


def register(client: FlaskClient, body: dict[str, str], **changes: Any):
    return client.post("/citizens", json=body | changes)


def apply(client: FlaskClient, key: str = "key-00000001", **changes: Any):
    body = {"phone": PHONE, "pin": PIN} | GOOD_CONDUCT | changes
    return client.post("/applications", json=body, headers={"Idempotency-Key": key})


@pytest.fixture
def person(client: FlaskClient) -> dict[str, str]:
    return people(client)[0]


@pytest.fixture
def body(person: dict[str, str]) -> dict[str, str]:
    """A registration that the register accepts: `person` on PHONE with PIN."""
    return registration(person)


@pytest.fixture
def citizen(client: FlaskClient, body: dict[str, str]) -> dict[str, Any]:
    response = register(client, body)
    assert response.status_code == 201, response.json
    return response.json
