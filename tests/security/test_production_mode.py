"""Production, attacked with what a careless deployment leaves behind: no secrets, the development
defaults, short or placeholder keys, one key for every purpose. The gateway, its worker commands and
`make run` must refuse to start and name every problem; with proper secrets the keys of every
purpose differ, every node derives the same ones, and console cookies are Secure."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from common.keys import GatewayKeys
from common.production import InsecureSettings
from config import Settings
from sessions.store import SecretBox
from tests.support import ROOT

# Starts processes or waits seconds on real time: scheduled first (tests/conftest.py).
pytestmark = pytest.mark.long

GATEWAY_SECRETS = ("SECRET_KEY", "WEBHOOK_SECRET", "AT_CALLBACK_SECRET", "AT_API_KEY")
CORE_SECRETS = ("CORE_ADMIN_TOKEN", "CORE_ID_HASH_KEY")


def good_secrets() -> dict[str, str]:
    return {name: secrets.token_urlsafe(32) for name in GATEWAY_SECRETS + CORE_SECRETS}


def production(settings: Settings, **values: str) -> Settings:
    fields = {
        "secret_key": values.get("SECRET_KEY", ""),
        "webhook_secret": values.get("WEBHOOK_SECRET", ""),
        "at_callback_secret": values.get("AT_CALLBACK_SECRET", ""),
        "at_api_key": values.get("AT_API_KEY", ""),
    }
    return replace(settings, gateway_env="production", password_hash_profile="default", **fields)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh shell: none of the test run's own settings leak in."""
    keep = {"PATH", "HOME", "LANG", "PYTHONPATH"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    return env | extra


def test_create_app_refuses_production_without_secrets_naming_each(settings):
    from app import create_app

    with pytest.raises(InsecureSettings) as refused:
        create_app(production(settings))
    for name in GATEWAY_SECRETS:
        assert f"{name} is not set" in refused.value.problems


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("dev-webhook-secret", "is a development value"),
        ("test-secret-key", "is a development value"),
        ("sandbox-key", "is a development value"),
        ("short-but-random-Xq3", "is shorter than 32 characters"),
        ("x" * 40, "looks like a placeholder"),
        ("12121212121212121212121212121212", "looks like a placeholder"),
    ],
)
def test_development_short_and_placeholder_secrets_are_refused(settings, value, reason):
    from app import create_app

    values = good_secrets() | {"WEBHOOK_SECRET": value}
    with pytest.raises(InsecureSettings) as refused:
        create_app(production(settings, **values))
    assert [p for p in refused.value.problems if p.startswith("WEBHOOK_SECRET")] == [
        f"WEBHOOK_SECRET {reason}" + (" (too few different characters)" if "placeholder" in reason else "")
    ]


def test_one_secret_for_two_jobs_is_refused(settings):
    from app import create_app

    values = good_secrets()
    values["AT_CALLBACK_SECRET"] = values["SECRET_KEY"]
    with pytest.raises(InsecureSettings) as refused:
        create_app(production(settings, **values))
    assert refused.value.problems == ["SECRET_KEY, AT_CALLBACK_SECRET must all be different"]


def test_a_test_only_hash_profile_or_an_unknown_environment_is_refused(settings):
    from app import create_app

    with pytest.raises(InsecureSettings, match="PASSWORD_HASH_PROFILE=cheapest is for tests only"):
        create_app(replace(production(settings, **good_secrets()), password_hash_profile="cheapest"))
    with pytest.raises(InsecureSettings, match="GATEWAY_ENV='prod' is neither"):
        create_app(replace(settings, gateway_env="prod"))


def test_with_proper_secrets_production_starts_with_secure_cookies_and_hsts(settings):
    from app import create_app

    app = create_app(production(settings, **good_secrets()))
    assert app.config["SESSION_COOKIE_SECURE"] is True
    answer = app.test_client().get("/healthz")
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_the_worker_commands_refuse_too(tmp_path):
    """`flask --app app worker` and `sms worker` build the app: in production without secrets they
    exit non-zero, naming the settings, before touching Redis or the database."""
    env = clean_env(GATEWAY_ENV="production", VAR_DIR=str(tmp_path), REDIS_URL="redis://127.0.0.1:9/0")
    for command in (["worker", "--burst"], ["sms", "worker", "--burst"]):
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        output = result.stdout + result.stderr
        for name in GATEWAY_SECRETS:
            assert f"{name} is not set" in output, output[-2000:]
    assert not (tmp_path / "secret_key").exists()  # no key made up for this node


def test_make_run_in_production_without_secrets_exits_within_seconds_naming_every_setting(tmp_path):
    """`GATEWAY_ENV=production make run`, the way make runs it (`python -m tools.run_all`)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "tools.run_all"],
        cwd=ROOT,
        env=clean_env(GATEWAY_ENV="production", VAR_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert time.monotonic() - started < 10
    for name in GATEWAY_SECRETS + CORE_SECRETS:
        assert f"{name} is not set" in result.stderr
    assert result.stderr.count("WEBHOOK_SECRET is not set") == 1  # shared by the core: named once
    assert list(tmp_path.iterdir()) == []  # refused before starting or writing anything


def test_make_run_in_development_warns_naming_what_is_open(tmp_path):
    env = clean_env(VAR_DIR=str(tmp_path))
    code = "from tools.run_all import preflight; p, w = preflight(); print(p); print('\\n'.join(w))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0 and result.stdout.startswith("[]")
    for line in (
        "SECRET_KEY is not set",
        "WEBHOOK_SECRET is a development value",
        "AT_CALLBACK_SECRET is not set: anyone can post USSD and SMS callbacks as any phone",
        "CORE_ADMIN_TOKEN is dev-admin-token",
    ):
        assert line in result.stdout


def test_keys_differ_per_purpose_and_match_on_every_node():
    master = secrets.token_urlsafe(32)
    node_a, node_b = GatewayKeys.derive(master), GatewayKeys.derive(master)
    purposes = [node_a.sealing, node_a.cookies, node_a.pseudonyms, node_a.transcript, node_a.counters]
    assert len(set(purposes)) == 5 and all(len(key) == 32 for key in purposes)
    assert master.encode() not in purposes
    assert node_a == node_b  # two nodes with one SECRET_KEY open each other's sealed answers
    sealed = SecretBox(node_a.sealing).seal("5938")
    assert SecretBox(node_b.sealing).open(sealed) == "5938"
    assert SecretBox(GatewayKeys.derive(secrets.token_urlsafe(32)).sealing).open(sealed) == ""
    assert repr(node_a) == "GatewayKeys(…)"


def test_values_sealed_before_per_purpose_keys_still_open():
    """A PIN sealed by the previous release (SHA-256 of SECRET_KEY as the Fernet key) still opens,
    so an application queued across the upgrade is not sent with an empty PIN."""
    import base64
    import hashlib

    from cryptography.fernet import Fernet

    master = secrets.token_urlsafe(32)
    old = Fernet(base64.urlsafe_b64encode(hashlib.sha256(master.encode()).digest())).encrypt(b"5938")
    keys = GatewayKeys.derive(master)
    box = SecretBox(keys.sealing, keys.legacy_sealing)
    assert box.open(old.decode()) == "5938"
    assert SecretBox(keys.legacy_sealing).open(box.seal("5938")) == ""  # new values: the new key only


def test_a_laptop_key_is_made_once_and_shared_by_every_process(tmp_path):
    from common.keys import laptop_master_key

    first = laptop_master_key(tmp_path)
    assert laptop_master_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
