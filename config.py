"""All configuration, read from the environment in one place.

Defaults suit a laptop (`make run`); production settings are documented in README.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# Runtime files (SQLite, embedded Redis data, the laptop secret key, metrics) live here.
VAR_DIR = Path(os.environ.get("VAR_DIR") or ROOT / "var")


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


def _str(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _floats(name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    value = os.environ.get(name, "")
    return tuple(float(v) for v in value.split(",") if v.strip()) if value.strip() else default


@dataclass(frozen=True)
class Settings:
    """Everything the gateway can be told; build one with `Settings.from_env()`."""

    redis_url: str = "redis://127.0.0.1:6390/0"
    # The two Redis roles (docs/deploy.md); empty means REDIS_URL. Sessions may be a Redis Cluster
    # (`redis+cluster://h:p,h:p`); the queue role (RQ, audit stream) a primary or a Sentinel URL.
    session_redis_url: str = ""
    queue_redis_url: str = ""
    redis_password: str = ""
    redis_sentinel_password: str = ""
    # Seconds a gateway node may take, after SIGTERM, to turn unready and finish its hops.
    drain_timeout_s: float = 20.0
    # Set by the node's supervisor (tools/serve.py): while this file exists, /readyz answers 503.
    drain_file: str = ""
    database_url: str = f"sqlite:///{VAR_DIR / 'gateway.db'}"
    # Countries whose numbers may use the service, ISO 3166 codes; the first is the default region.
    phone_regions: tuple[str, ...] = ("KE",)
    screen_limit: int = 160
    session_ttl_s: int = 180
    draft_ttl_s: int = 600
    language_ttl_s: int = 365 * 24 * 3600
    lock_ttl_ms: int = 5000
    lock_wait_ms: int = 3000
    hop_budget_ms: int = 2500
    rate_limit_per_minute: int = 30
    max_invalid_tries: int = 3
    at_callback_secret: str = ""
    # Aggregator callbacks served by the lean WSGI lane in front of Flask (docs/performance.md);
    # CALLBACK_LANE=0 serves them through Flask's routes (same behaviour, more CPU per hop).
    callback_lane: bool = True
    trees_dir: Path = field(default=ROOT / "menus" / "trees")
    default_language: str = "en"
    log_level: str = "INFO"
    log_format: str = "json"
    # Audit trail and analytics (docs/audit.md).
    audit_enabled: bool = True
    audit_pseudonym_key: str = ""  # empty: derived from SECRET_KEY
    audit_retention_days: int = 365
    audit_stream_maxlen: int = 1_000_000
    analytics_token: str = ""
    # Operator console: failed logins before a lockout, per account and per client address, and for how long.
    login_max_failures: int = 5
    login_max_failures_per_ip: int = 20
    login_lockout_s: int = 900
    # Send the console's session cookie over HTTPS only; set CONSOLE_SECURE_COOKIE=1 behind TLS.
    console_secure_cookie: bool = False
    # The console simulator's "Reference core service (live)" scenario; set 0 where the core
    # service is a real one (its writes would be real).
    console_live_simulator: bool = True
    # Staged releases (docs/console.md): how often a gateway process checks them, and the default
    # rollback rule (completion worse than the live version's by more than the margin, with at
    # least this many finished sessions on each side).
    release_check_interval_s: float = 30.0
    release_margin: float = 0.05
    release_min_sessions: int = 100
    # The core service (backend_client); the reference one runs on CORE_PORT under `make run`.
    core_url: str = "http://127.0.0.1:8010"
    # SMS channel (docs/sms.md). The provider itself is configured by the AT_* variables.
    webhook_secret: str = "dev-webhook-secret"  # noqa: S105 - a laptop default; set WEBHOOK_SECRET
    sms_queue: str = "sms"
    sms_batch_size: int = 100
    sms_send_threads: int = 100
    sms_retry_delays_s: tuple[float, ...] = (5, 15, 30, 60, 120, 300, 600, 900)
    sms_max_attempts: int = 12
    sms_stuck_after_s: float = 120
    sms_requeue_after_s: float = 60
    sms_sweep_interval_s: float = 10
    sms_lookup_budget_s: float = 1.5

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "redis_url": _str("REDIS_URL", cls.redis_url),
            "session_redis_url": _str("SESSION_REDIS_URL", ""),
            "queue_redis_url": _str("QUEUE_REDIS_URL", ""),
            "redis_password": _str("REDIS_PASSWORD", ""),
            "redis_sentinel_password": _str("REDIS_SENTINEL_PASSWORD", ""),
            "drain_timeout_s": _float("DRAIN_TIMEOUT_S", cls.drain_timeout_s),
            "drain_file": _str("DRAIN_FILE", ""),
            "database_url": _str("DATABASE_URL", cls.database_url),
            "phone_regions": tuple(
                r.strip().upper() for r in _str("PHONE_REGIONS", "KE").split(",") if r.strip()
            ),
            "screen_limit": _int("USSD_SCREEN_LIMIT", cls.screen_limit),
            "session_ttl_s": _int("SESSION_TTL_S", cls.session_ttl_s),
            "draft_ttl_s": _int("DRAFT_TTL_S", cls.draft_ttl_s),
            "rate_limit_per_minute": _int("RATE_LIMIT_PER_MINUTE", cls.rate_limit_per_minute),
            "hop_budget_ms": _int("HOP_BUDGET_MS", cls.hop_budget_ms),
            "at_callback_secret": _str("AT_CALLBACK_SECRET", ""),
            "callback_lane": _str("CALLBACK_LANE", "1") not in ("0", "false", "no", "off"),
            "trees_dir": Path(_str("MENU_TREES_DIR", str(ROOT / "menus" / "trees"))),
            "log_level": _str("LOG_LEVEL", cls.log_level).upper(),
            "log_format": _str("LOG_FORMAT", cls.log_format),
            "audit_enabled": _str("AUDIT_ENABLED", "1") not in ("0", "false", "no", "off"),
            "audit_pseudonym_key": _str("AUDIT_PSEUDONYM_KEY", ""),
            "audit_retention_days": _int("AUDIT_RETENTION_DAYS", cls.audit_retention_days),
            "audit_stream_maxlen": _int("AUDIT_STREAM_MAXLEN", cls.audit_stream_maxlen),
            "analytics_token": _str("ANALYTICS_TOKEN", ""),
            "login_max_failures": _int("LOGIN_MAX_FAILURES", cls.login_max_failures),
            "login_max_failures_per_ip": _int("LOGIN_MAX_FAILURES_PER_IP", cls.login_max_failures_per_ip),
            "login_lockout_s": _int("LOGIN_LOCKOUT_S", cls.login_lockout_s),
            "console_secure_cookie": _str("CONSOLE_SECURE_COOKIE", "0") in ("1", "true", "yes"),
            "console_live_simulator": _str("CONSOLE_LIVE_SIMULATOR", "1") not in ("0", "false", "no", "off"),
            "release_check_interval_s": _float("RELEASE_CHECK_INTERVAL_S", cls.release_check_interval_s),
            "release_margin": _float("RELEASE_MARGIN", cls.release_margin),
            "release_min_sessions": _int("RELEASE_MIN_SESSIONS", cls.release_min_sessions),
            "core_url": _str("CORE_URL", cls.core_url),
            "webhook_secret": _str("WEBHOOK_SECRET", cls.webhook_secret),
            "sms_queue": _str("SMS_QUEUE", cls.sms_queue),
            "sms_batch_size": _int("SMS_BATCH_SIZE", cls.sms_batch_size),
            "sms_send_threads": _int("SMS_SEND_THREADS", cls.sms_send_threads),
            "sms_retry_delays_s": _floats("SMS_RETRY_DELAYS_S", cls.sms_retry_delays_s),
            "sms_max_attempts": _int("SMS_MAX_ATTEMPTS", cls.sms_max_attempts),
            "sms_stuck_after_s": _float("SMS_STUCK_AFTER_S", cls.sms_stuck_after_s),
            "sms_requeue_after_s": _float("SMS_REQUEUE_AFTER_S", cls.sms_requeue_after_s),
            "sms_sweep_interval_s": _float("SMS_SWEEP_INTERVAL_S", cls.sms_sweep_interval_s),
            "sms_lookup_budget_s": _float("SMS_LOOKUP_BUDGET_S", cls.sms_lookup_budget_s),
        }
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    @property
    def session_url(self) -> str:
        """Where sessions, locks, rate limits and the live menu tree live."""
        return self.session_redis_url or self.redis_url

    @property
    def queue_url(self) -> str:
        """Where RQ queues and the audit stream live (never a Redis Cluster)."""
        return self.queue_redis_url or self.redis_url

    def check(self) -> None:
        """Refuse settings that would break the citizen's screen or the aggregator's limits."""
        from common.redis_conn import check_role_url

        check_role_url("SESSION_REDIS_URL", self.session_url, cluster_ok=True)
        check_role_url("QUEUE_REDIS_URL", self.queue_url, cluster_ok=False)
        if self.drain_timeout_s <= 0:
            raise ValueError("DRAIN_TIMEOUT_S must be a positive number of seconds")
        if not 60 <= self.screen_limit <= 182:
            raise ValueError("USSD_SCREEN_LIMIT must be between 60 and 182 (182 is the GSM maximum)")
        if self.session_ttl_s < 180:
            raise ValueError("SESSION_TTL_S must be at least 180 s, the aggregator's session limit")
        if not self.phone_regions:
            raise ValueError("PHONE_REGIONS needs at least one country code")
        if self.audit_retention_days < 1:
            raise ValueError("AUDIT_RETENTION_DAYS must be at least 1")
        if not self.sms_retry_delays_s or self.sms_max_attempts < 1:
            raise ValueError("SMS_RETRY_DELAYS_S needs a delay and SMS_MAX_ATTEMPTS at least 1")
