from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from stand_ins.core_service import create_app

ADMIN = {"Authorization": "Bearer test-admin-token"}
PHONE = "+254712345678"
PIN = "4826"
CITIZEN = {
    "national_id": "23456789",
    "first_name": "Wanjiku",
    "last_name": "Kamau",
    "date_of_birth": "1990-05-01",
    "phone": PHONE,
    "pin": PIN,
}
GOOD_CONDUCT = {"service_code": "good_conduct", "answers": {"purpose": "employment", "county": "Nairobi"}}


def core_config(tmp_path: Any, **overrides: Any) -> dict[str, Any]:
    """Fast settings for tests: cheap PIN hashing, tiny delays, a temp SQLite file."""
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path}/core.db",
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
def app(tmp_path) -> Iterator[Flask]:
    app = create_app(core_config(tmp_path))
    yield app
    app.extensions["core"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def register(client: FlaskClient, **changes: Any):
    return client.post("/citizens", json=CITIZEN | changes)


def apply(client: FlaskClient, key: str = "key-00000001", **changes: Any):
    body = {"phone": PHONE, "pin": PIN} | GOOD_CONDUCT | changes
    return client.post("/applications", json=body, headers={"Idempotency-Key": key})


@pytest.fixture
def citizen(client: FlaskClient) -> dict[str, Any]:
    response = register(client)
    assert response.status_code == 201, response.json
    return response.json
