"""Sandbox settings, read from the environment in one place; `create_app(config)` may override any key."""

from __future__ import annotations

import os
from typing import Any

DEFAULTS: dict[str, Any] = {
    # Where delivery reports and inbound SMS go: the gateway's Africa's Talking callbacks.
    "DLR_URL": "http://127.0.0.1:8000/sms/africastalking/delivery",
    "INBOUND_URL": "http://127.0.0.1:8000/sms/africastalking/inbound",
    "DLR_DELAY_MS": 1000,
    # Also post an intermediate `Submitted` report (at half the delay) before the final one.
    "DLR_SUBMITTED": False,
    "DLR_RETRIES": 5,
    "DLR_RETRY_DELAY_MS": 500,
    "DLR_WORKERS": 8,
    "CALLBACK_TIMEOUT_S": 5.0,
    # When set, only this apiKey is accepted; when empty any non-empty apiKey header is.
    "API_KEY": "",
    "SHORT_CODE": "22384",
    "NETWORK_CODE": "63902",
    "COST_PER_SEGMENT": "0.8000",
    # Oldest received messages are forgotten beyond this many, so a long benchmark cannot eat memory.
    "MAX_MESSAGES": 100_000,
}

_ENV = {
    "DLR_URL": "AT_SANDBOX_DLR_URL",
    "INBOUND_URL": "AT_SANDBOX_INBOUND_URL",
    "DLR_DELAY_MS": "AT_SANDBOX_DLR_DELAY_MS",
    "DLR_SUBMITTED": "AT_SANDBOX_DLR_SUBMITTED",
    "DLR_RETRIES": "AT_SANDBOX_DLR_RETRIES",
    "API_KEY": "AT_SANDBOX_API_KEY",
    "SHORT_CODE": "AT_SANDBOX_SHORT_CODE",
    "MAX_MESSAGES": "AT_SANDBOX_MAX_MESSAGES",
}


def _coerce(default: Any, raw: str) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """DEFAULTS, then the `AT_SANDBOX_*` environment, then `overrides`.

    An empty `AT_SANDBOX_DLR_URL` turns delivery reports off.
    """
    config = dict(DEFAULTS)
    for key, env_name in _ENV.items():
        raw = os.environ.get(env_name)
        if raw is not None:
            config[key] = _coerce(DEFAULTS[key], raw)
    config.update(overrides or {})
    return config
