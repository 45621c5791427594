"""Settings of the core service: read from the environment, with laptop-safe defaults; a dict
given to create_app() overrides them (tests).

`GATEWAY_ENV=production` drops every development default: the secrets must then be given, long and
not a known development value, or `production_problems()` names what is wrong and the service does
not start.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from common.production import (  # noqa: F401 - one set of rules for every service's secrets
    DEVELOPMENT,
    DEVELOPMENT_VALUES,
    MIN_DISTINCT_CHARACTERS,
    MIN_SECRET_LENGTH,
    PRODUCTION,
    InsecureSettings,
    secret_problem,
)

DEVELOPMENT_C2B_TOKEN = "dev-c2b-token"  # noqa: S105 - a laptop default, refused in production
# config key -> the environment variable that sets it, for the secrets production requires
SECRETS = {
    "ADMIN_TOKEN": "CORE_ADMIN_TOKEN",
    "WEBHOOK_SECRET": "WEBHOOK_SECRET",
    "ID_HASH_KEY": "CORE_ID_HASH_KEY",
}


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return default if value in (None, "") else float(value)


def _str(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value in (None, "") else value


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """All settings, environment first, then `overrides`."""
    env = _str("GATEWAY_ENV", DEVELOPMENT).strip().lower()
    production = env == PRODUCTION
    var_dir = Path(_str("VAR_DIR", "var"))
    fail_amount = os.environ.get("CORE_PAYMENT_FAIL_AMOUNT_KES")
    config: dict[str, Any] = {
        "ENV": env,
        "VAR_DIR": var_dir,
        "DATABASE_URL": _str("CORE_DATABASE_URL", f"sqlite:///{var_dir / 'core.db'}"),
        "REGISTER_URL": _str("CORE_REGISTER_URL", f"sqlite:///{var_dir / 'register.db'}"),
        "REGISTER_SEED": int(_float("CORE_REGISTER_SEED", 254)),
        "REGISTER_SIZE": int(_float("CORE_REGISTER_SIZE", 10_000)),
        "ADMIN_TOKEN": _str("CORE_ADMIN_TOKEN", "" if production else "dev-admin-token"),
        "WEBHOOK_SECRET": _str("WEBHOOK_SECRET", "" if production else "dev-webhook-secret"),
        # empty in development: derived from a master secret kept in VAR_DIR (identity.py)
        "ID_HASH_KEY": _str("CORE_ID_HASH_KEY", ""),
        "GATEWAY_WEBHOOK_URL": _str("GATEWAY_WEBHOOK_URL", "http://127.0.0.1:8000/events/application-status"),
        "WEBHOOK_TIMEOUT_S": _float("CORE_WEBHOOK_TIMEOUT_S", 3.0),
        "WEBHOOK_RETRY_BASE_S": _float("CORE_WEBHOOK_RETRY_BASE_S", 1.0),
        "WEBHOOK_RETRY_MAX_S": _float("CORE_WEBHOOK_RETRY_MAX_S", 300.0),
        "WEBHOOK_MAX_ATTEMPTS": int(_float("CORE_WEBHOOK_MAX_ATTEMPTS", 30)),
        "PAYMENT_DELAY_S": _float("CORE_PAYMENT_DELAY_S", 5.0),
        "PAYMENT_FAIL_PHONES": os.environ.get("CORE_PAYMENT_FAIL_PHONES", "+254700000000"),
        "PAYMENT_FAIL_AMOUNT_KES": int(fail_amount) if fail_amount else None,
        "PIN_LOCK_SECONDS": int(_float("CORE_PIN_LOCK_S", 900)),
        # registrations that do not match the register, per phone and per national ID, per window
        "REGISTER_MAX_FAILURES_PER_PHONE": int(_float("CORE_REGISTER_MAX_FAILURES_PER_PHONE", 5)),
        "REGISTER_MAX_FAILURES_PER_ID": int(_float("CORE_REGISTER_MAX_FAILURES_PER_ID", 10)),
        "REGISTER_FAILURE_WINDOW_S": int(_float("CORE_REGISTER_FAILURE_WINDOW_S", 24 * 3600)),
        "PIN_HASH_PROFILE": _str("CORE_PIN_HASH_PROFILE", "default"),
        # M-Pesa paybill: the business number citizens pay to, with the reference as account
        "PAYBILL": _str("CORE_PAYBILL", "222222"),
        # token in the C2B validation and confirmation URLs registered with Safaricom; empty:
        # DEVELOPMENT_C2B_TOKEN in development, no paybill endpoints in production
        "C2B_TOKEN": _str("CORE_C2B_TOKEN", ""),
        # how often the background thread looks for due payments and webhooks
        "TICK_S": _float("CORE_TICK_S", 0.5),
        "BACKGROUND": True,
        "MAX_CONTENT_LENGTH": 64 * 1024,
    }
    config.update(overrides or {})
    return config


def is_production(config: dict[str, Any]) -> bool:
    return config.get("ENV") == PRODUCTION


def production_problems(config: dict[str, Any]) -> list[str]:
    """Every reason this configuration must not start, one line each, naming the environment
    variable: an unknown GATEWAY_ENV, or production with a missing or development secret. Empty in
    development."""
    env = config.get("ENV")
    if env not in (DEVELOPMENT, PRODUCTION):
        return [f"GATEWAY_ENV={env!r} is neither {DEVELOPMENT} nor {PRODUCTION}"]
    if env != PRODUCTION:
        return []
    problems = []
    for key, variable in SECRETS.items():
        problem = secret_problem(str(config.get(key) or ""))
        if problem:
            problems.append(f"{variable} {problem}")
    values = [str(config.get(key) or "") for key in SECRETS]
    if all(values) and len(set(values)) < len(values):
        problems.append(f"{', '.join(SECRETS.values())} must all be different")
    c2b_token = str(config.get("C2B_TOKEN") or "")
    problem = secret_problem(c2b_token) if c2b_token else None
    if problem:
        problems.append(f"CORE_C2B_TOKEN {problem}")
    if config.get("PIN_HASH_PROFILE") == "cheapest":
        problems.append("CORE_PIN_HASH_PROFILE=cheapest is for tests only")
    return problems


def insecure_defaults(config: dict[str, Any]) -> list[str]:
    """Settings a development run relies on that production refuses (for a start-up warning)."""
    return [variable for key, variable in SECRETS.items() if secret_problem(str(config.get(key) or ""))]
