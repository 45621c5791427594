"""Settings of the core service: read from the environment, with laptop-safe defaults; a dict
given to create_app() overrides them (tests)."""

from __future__ import annotations

import os
from typing import Any


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return default if value in (None, "") else float(value)


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """All settings, environment first, then `overrides`."""
    fail_amount = os.environ.get("CORE_PAYMENT_FAIL_AMOUNT_KES")
    config: dict[str, Any] = {
        "DATABASE_URL": os.environ.get("CORE_DATABASE_URL", "sqlite:///var/core.db"),
        "ADMIN_TOKEN": os.environ.get("CORE_ADMIN_TOKEN", "dev-admin-token"),
        "WEBHOOK_SECRET": os.environ.get("WEBHOOK_SECRET", "dev-webhook-secret"),
        "GATEWAY_WEBHOOK_URL": os.environ.get(
            "GATEWAY_WEBHOOK_URL", "http://127.0.0.1:8000/events/application-status"
        ),
        "WEBHOOK_TIMEOUT_S": _float("CORE_WEBHOOK_TIMEOUT_S", 3.0),
        "WEBHOOK_RETRY_BASE_S": _float("CORE_WEBHOOK_RETRY_BASE_S", 1.0),
        "WEBHOOK_RETRY_MAX_S": _float("CORE_WEBHOOK_RETRY_MAX_S", 300.0),
        "WEBHOOK_MAX_ATTEMPTS": int(_float("CORE_WEBHOOK_MAX_ATTEMPTS", 30)),
        "PAYMENT_DELAY_S": _float("CORE_PAYMENT_DELAY_S", 5.0),
        "PAYMENT_FAIL_PHONES": os.environ.get("CORE_PAYMENT_FAIL_PHONES", "+254700000000"),
        "PAYMENT_FAIL_AMOUNT_KES": int(fail_amount) if fail_amount else None,
        "PIN_LOCK_SECONDS": int(_float("CORE_PIN_LOCK_S", 900)),
        "PIN_HASH_PROFILE": os.environ.get("CORE_PIN_HASH_PROFILE", "default"),
        # how often the background thread looks for due payments and webhooks
        "TICK_S": _float("CORE_TICK_S", 0.5),
        "BACKGROUND": True,
        "MAX_CONTENT_LENGTH": 64 * 1024,
    }
    config.update(overrides or {})
    return config
