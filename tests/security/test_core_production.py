"""The core service in production, attacked with what a careless deployment leaves behind: no
secrets, the development defaults, short or placeholder keys. It must refuse to start and say why;
once started, the development endpoints must not exist and the development officer token must not
work."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from stand_ins.core_service import create_app
from stand_ins.core_service.config import InsecureSettings, load_config, production_problems
from stand_ins.core_service.testing import ROOT, CoreProcess, core_process_env

# Starts processes or waits seconds on real time: scheduled first (tests/conftest.py).
pytestmark = pytest.mark.long

REQUIRED = ("CORE_ADMIN_TOKEN", "WEBHOOK_SECRET", "CORE_ID_HASH_KEY")


def good_secrets() -> dict[str, str]:
    return {name: secrets.token_urlsafe(32) for name in REQUIRED}


def files(folder: Path) -> dict[str, str]:
    return {
        "VAR_DIR": str(folder),
        "CORE_DATABASE_URL": f"sqlite:///{folder}/core.db",
        "CORE_REGISTER_URL": f"sqlite:///{folder.parent}/core-register.db",
        "GATEWAY_WEBHOOK_URL": "http://127.0.0.1:9/unused",
    }


def start_core(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stand_ins.core_service"],
        cwd=ROOT,
        env=core_process_env(env),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_production_without_secrets_refuses_to_start_naming_each(tmp_path):
    started = time.monotonic()
    result = start_core(files(tmp_path) | {"GATEWAY_ENV": "production"})
    assert result.returncode == 2, result.stderr
    assert time.monotonic() - started < 10
    for name in REQUIRED:
        assert f"{name} is not set" in result.stderr
    assert not (tmp_path / "core.db").exists()  # refused before touching anything


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("dev-admin-token", "is a development value"),
        ("dev-webhook-secret", "is a development value"),
        ("test-secret", "is a development value"),
        ("dev-" + "k" * 40, "is a development value"),
        ("a-real-looking-but-short-key", "is shorter than 32 characters"),
        ("x" * 40, "looks like a placeholder (too few different characters)"),
        ("0123456701234567012345670123456", "is shorter than 32 characters"),
    ],
)
def test_production_refuses_development_short_and_placeholder_secrets(value, reason):
    keys = {
        "ADMIN_TOKEN": value,
        "WEBHOOK_SECRET": secrets.token_urlsafe(32),
        "ID_HASH_KEY": secrets.token_urlsafe(32),
    }
    assert production_problems(load_config({"ENV": "production"} | keys)) == [f"CORE_ADMIN_TOKEN {reason}"]


def test_production_with_the_development_defaults_names_every_one(tmp_path):
    env = files(tmp_path) | {
        "GATEWAY_ENV": "production",
        "CORE_ADMIN_TOKEN": "dev-admin-token",
        "WEBHOOK_SECRET": "dev-webhook-secret",
        "CORE_PIN_HASH_PROFILE": "cheapest",
    }
    result = start_core(env)
    assert result.returncode == 2
    assert "CORE_ADMIN_TOKEN is a development value" in result.stderr
    assert "WEBHOOK_SECRET is a development value" in result.stderr
    assert "CORE_ID_HASH_KEY is not set" in result.stderr
    assert "CORE_PIN_HASH_PROFILE=cheapest" in result.stderr


def test_one_secret_for_every_purpose_is_refused():
    shared = secrets.token_urlsafe(32)
    config = load_config({"ENV": "production", "ADMIN_TOKEN": shared, "WEBHOOK_SECRET": shared,
                          "ID_HASH_KEY": shared})  # fmt: skip
    assert production_problems(config) == [
        "CORE_ADMIN_TOKEN, WEBHOOK_SECRET, CORE_ID_HASH_KEY must all be different"
    ]


def test_an_unknown_environment_name_is_refused(tmp_path):
    result = start_core(files(tmp_path) | good_secrets() | {"GATEWAY_ENV": "prod"})
    assert result.returncode == 2
    assert "GATEWAY_ENV='prod' is neither development nor production" in result.stderr


def test_create_app_refuses_too(tmp_path):
    with pytest.raises(InsecureSettings) as refused:
        create_app({"ENV": "production", "ADMIN_TOKEN": "", "WEBHOOK_SECRET": "", "ID_HASH_KEY": ""})
    assert refused.value.problems == [f"{name} is not set" for name in REQUIRED]


def test_production_serves_without_dev_endpoints_or_the_dev_token(tmp_path):
    keys = good_secrets()
    env = files(tmp_path) | keys | {"GATEWAY_ENV": "production"}
    with CoreProcess(env, tmp_path / "core.log") as core:
        assert requests.get(f"{core.url}/health", timeout=5).json() == {"status": "ok"}
        people = requests.get(f"{core.url}/dev/people", params={"unregistered": 1, "n": 5}, timeout=5)
        assert (people.status_code, people.json()["error"]) == (404, "not_found")
        url = f"{core.url}/admin/applications/ECZ-222222/status"
        for token in ("dev-admin-token", "test-admin-token"):
            refused = requests.post(
                url, json={"status": "under_review"}, headers={"Authorization": f"Bearer {token}"}, timeout=5
            )
            assert refused.status_code == 403
        allowed = requests.post(
            url,
            json={"status": "under_review"},
            headers={"Authorization": f"Bearer {keys['CORE_ADMIN_TOKEN']}"},
            timeout=5,
        )
        assert allowed.status_code == 404  # past the token check: no such application
    assert "development mode" not in core.logs()
    for secret in keys.values():
        assert secret not in core.logs()


def test_development_warns_once_about_what_production_would_refuse(tmp_path):
    env = files(tmp_path) | {"CORE_PIN_HASH_PROFILE": "cheapest"}
    with CoreProcess(env, tmp_path / "core.log") as core:
        assert requests.get(f"{core.url}/dev/people", timeout=5).status_code == 200
    warnings = [line for line in core.logs().splitlines() if "development mode" in line]
    assert len(warnings) == 1
    assert all(name in warnings[0] for name in REQUIRED)
