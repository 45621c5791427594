"""All configuration, read from the environment in one place.

Defaults suit a laptop (`make run`); production settings are documented in README.md.
"""

from __future__ import annotations

import ipaddress
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


def _names(name: str, default: str) -> tuple[str, ...]:
    return tuple(v.strip().lower() for v in _str(name, default).split(",") if v.strip())


def _pairs(name: str, default: str) -> tuple[tuple[str, str], ...]:
    """`a=b,c=d` -> (("a", "b"), ("c", "d")); an entry without `=` is refused."""
    pairs = []
    for entry in _str(name, default).split(","):
        if entry.strip():
            key, sep, value = entry.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ValueError(f"{name}: {entry.strip()!r} is not CODE=TREE")
            pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


# The USSD aggregators this gateway can speak; AGGREGATORS says which are enabled.
KNOWN_AGGREGATORS = ("africastalking", "hubtel", "arkesel")


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
    # A draft announced by SMS after a drop stays this long for *384*123*0# to continue it.
    draft_saved_ttl_s: int = 24 * 3600
    # How often the worker looks for sessions that went silent mid-application.
    draft_sweep_interval_s: float = 10
    # The caller lookup before the first screen (registered or not) waits at most this long.
    caller_lookup_ms: int = 800
    # The core's answer to "who is calling" (registered or not, first name) is kept per phone this
    # long, so a repeat dial's first screen does not wait on the core; a guest's for less, since
    # they may register elsewhere. 0 keeps nothing.
    caller_ttl_s: int = 600
    caller_guest_ttl_s: int = 120
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
    # USSD aggregators (docs/aggregators.md): which are enabled, each one's callback secret, which
    # tree each serves, and its screen's text room (0: the same screens as Africa's Talking's).
    aggregators: tuple[str, ...] = ("africastalking",)
    hubtel_callback_secret: str = ""
    hubtel_service_codes: tuple[tuple[str, str], ...] = (("*713#", "ecitizen"),)
    hubtel_screen_limit: int = 0
    arkesel_callback_secret: str = ""
    arkesel_tree: str = "ecitizen"
    arkesel_service_code: str = "*920*100#"
    arkesel_screen_limit: int = 0
    arkesel_replay_window_s: float = 2.0
    trees_dir: Path = field(default=ROOT / "menus" / "trees")
    default_language: str = "en"
    log_level: str = "INFO"
    log_format: str = "json"
    # Audit trail and analytics (docs/audit.md).
    audit_enabled: bool = True
    audit_pseudonym_key: str = ""  # empty: derived from SECRET_KEY
    audit_retention_days: int = 365
    audit_stream_maxlen: int = 1_000_000
    audit_drain_linger_ms: int = 200
    analytics_token: str = ""
    # Retention of the SMS and USSD session-end records (records/retention.py): how long rows are
    # kept, how often the worker purges, and rows deleted per transaction.
    record_retention_days: int = 90
    record_purge_interval_s: float = 3600
    record_purge_batch: int = 500
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
    # A read the core did not answer is tried again (3 tries in all) after this pause, then twice it.
    core_retry_backoff_ms: int = 50
    # SMS channel (docs/sms.md). The provider itself is configured by the AT_* variables.
    webhook_secret: str = "dev-webhook-secret"  # noqa: S105 - a laptop default; set WEBHOOK_SECRET
    sms_queue: str = "sms"
    sms_batch_size: int = 100
    # Sends in flight per worker: the rate is at most workers × this / (provider latency + ~0.1 s).
    sms_send_threads: int = 200
    sms_retry_delays_s: tuple[float, ...] = (5, 15, 30, 60, 120, 300, 600, 900)
    sms_max_attempts: int = 12
    sms_stuck_after_s: float = 120
    sms_requeue_after_s: float = 60
    sms_sweep_interval_s: float = 10
    sms_lookup_budget_s: float = 1.5
    # Security (docs/security.md). GATEWAY_ENV=production refuses to start without real secrets.
    gateway_env: str = "development"
    secret_key: str = ""  # empty in development: generated once into VAR_DIR/secret_key
    at_api_key: str = ""  # read by the SMS sender itself; here so production can check it
    # Client networks (CIDRs) allowed to post aggregator callbacks; empty: any.
    at_allowed_networks: tuple[str, ...] = ()
    # Proxies in front of the gateway whose X-Forwarded-For is believed (werkzeug ProxyFix x_for).
    trusted_proxy_count: int = 0
    webhook_max_age_s: int = 300
    # Application lookups by reference (USSD Track and Pay, SMS STATUS): misses per phone and per
    # reference within the window, and lookups of everyone per minute.
    lookup_max_misses_per_phone: int = 10
    lookup_max_misses_per_reference: int = 20
    lookup_window_s: int = 3600
    lookup_max_per_minute: int = 600
    # Console password hashing off the hop path: hashes at once per process, and logins waiting.
    password_hash_workers: int = 1
    password_hash_queue: int = 1
    password_hash_profile: str = "default"  # noqa: S105 - "cheapest" only in tests; production refuses it
    api_token_days: int = 90
    api_token_max_days: int = 365

    @property
    def production(self) -> bool:
        return self.gateway_env == "production"

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
            "draft_saved_ttl_s": _int("DRAFT_SAVED_TTL_S", cls.draft_saved_ttl_s),
            "draft_sweep_interval_s": _float("DRAFT_SWEEP_INTERVAL_S", cls.draft_sweep_interval_s),
            "caller_lookup_ms": _int("CALLER_LOOKUP_MS", cls.caller_lookup_ms),
            "caller_ttl_s": _int("CALLER_TTL_S", cls.caller_ttl_s),
            "caller_guest_ttl_s": _int("CALLER_GUEST_TTL_S", cls.caller_guest_ttl_s),
            "rate_limit_per_minute": _int("RATE_LIMIT_PER_MINUTE", cls.rate_limit_per_minute),
            "hop_budget_ms": _int("HOP_BUDGET_MS", cls.hop_budget_ms),
            "at_callback_secret": _str("AT_CALLBACK_SECRET", ""),
            "callback_lane": _str("CALLBACK_LANE", "1") not in ("0", "false", "no", "off"),
            "aggregators": _names("AGGREGATORS", "africastalking"),
            "hubtel_callback_secret": _str("HUBTEL_CALLBACK_SECRET", ""),
            "hubtel_service_codes": _pairs("HUBTEL_SERVICE_CODES", "*713#=ecitizen"),
            "hubtel_screen_limit": _int("HUBTEL_SCREEN_LIMIT", 0),
            "arkesel_callback_secret": _str("ARKESEL_CALLBACK_SECRET", ""),
            "arkesel_tree": _str("ARKESEL_TREE", cls.arkesel_tree),
            "arkesel_service_code": os.environ.get("ARKESEL_SERVICE_CODE", cls.arkesel_service_code).strip(),
            "arkesel_screen_limit": _int("ARKESEL_SCREEN_LIMIT", 0),
            "arkesel_replay_window_s": _float("ARKESEL_REPLAY_WINDOW_S", cls.arkesel_replay_window_s),
            "trees_dir": Path(_str("MENU_TREES_DIR", str(ROOT / "menus" / "trees"))),
            "log_level": _str("LOG_LEVEL", cls.log_level).upper(),
            "log_format": _str("LOG_FORMAT", cls.log_format),
            "audit_enabled": _str("AUDIT_ENABLED", "1") not in ("0", "false", "no", "off"),
            "audit_pseudonym_key": _str("AUDIT_PSEUDONYM_KEY", ""),
            "audit_retention_days": _int("AUDIT_RETENTION_DAYS", cls.audit_retention_days),
            "audit_stream_maxlen": _int("AUDIT_STREAM_MAXLEN", cls.audit_stream_maxlen),
            "audit_drain_linger_ms": _int("AUDIT_DRAIN_LINGER_MS", cls.audit_drain_linger_ms),
            "record_retention_days": _int("RECORD_RETENTION_DAYS", cls.record_retention_days),
            "record_purge_interval_s": _float("RECORD_PURGE_INTERVAL_S", cls.record_purge_interval_s),
            "record_purge_batch": _int("RECORD_PURGE_BATCH", cls.record_purge_batch),
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
            "core_retry_backoff_ms": _int("CORE_RETRY_BACKOFF_MS", cls.core_retry_backoff_ms),
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
            "gateway_env": _str("GATEWAY_ENV", cls.gateway_env).strip().lower(),
            "secret_key": _str("SECRET_KEY", ""),
            "at_api_key": _str("AT_API_KEY", ""),
            "at_allowed_networks": tuple(
                n.strip() for n in _str("AT_ALLOWED_NETWORKS", "").split(",") if n.strip()
            ),
            "trusted_proxy_count": _int("TRUSTED_PROXY_COUNT", cls.trusted_proxy_count),
            "webhook_max_age_s": _int("WEBHOOK_MAX_AGE_S", cls.webhook_max_age_s),
            "lookup_max_misses_per_phone": _int(
                "LOOKUP_MAX_MISSES_PER_PHONE", cls.lookup_max_misses_per_phone
            ),
            "lookup_max_misses_per_reference": _int(
                "LOOKUP_MAX_MISSES_PER_REFERENCE", cls.lookup_max_misses_per_reference
            ),
            "lookup_window_s": _int("LOOKUP_WINDOW_S", cls.lookup_window_s),
            "lookup_max_per_minute": _int("LOOKUP_MAX_PER_MINUTE", cls.lookup_max_per_minute),
            "password_hash_workers": _int("PASSWORD_HASH_WORKERS", cls.password_hash_workers),
            "password_hash_queue": _int("PASSWORD_HASH_QUEUE", cls.password_hash_queue),
            "password_hash_profile": _str("PASSWORD_HASH_PROFILE", cls.password_hash_profile),
            "api_token_days": _int("API_TOKEN_DAYS", cls.api_token_days),
            "api_token_max_days": _int("API_TOKEN_MAX_DAYS", cls.api_token_max_days),
        }
        if values["gateway_env"] == "production" and not os.environ.get("WEBHOOK_SECRET"):
            values["webhook_secret"] = ""  # no development default in production
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
        unknown = sorted(set(self.aggregators) - set(KNOWN_AGGREGATORS))
        if unknown:
            known = ", ".join(KNOWN_AGGREGATORS)
            raise ValueError(f"AGGREGATORS: unknown {', '.join(unknown)}; known: {known}")
        for name, limit in (("HUBTEL", self.hubtel_screen_limit), ("ARKESEL", self.arkesel_screen_limit)):
            if limit and not 56 <= limit <= 182:
                raise ValueError(f"{name}_SCREEN_LIMIT must be between 56 and 182 characters (or unset)")
        if not 0 <= self.arkesel_replay_window_s <= 10:
            raise ValueError("ARKESEL_REPLAY_WINDOW_S must be between 0 and 10 seconds")
        if not self.phone_regions:
            raise ValueError("PHONE_REGIONS needs at least one country code")
        if self.audit_retention_days < 1:
            raise ValueError("AUDIT_RETENTION_DAYS must be at least 1")
        if not 0 <= self.audit_drain_linger_ms <= 5000:
            raise ValueError("AUDIT_DRAIN_LINGER_MS must be between 0 and 5000")
        if self.record_retention_days < 1:
            raise ValueError("RECORD_RETENTION_DAYS must be at least 1")
        if self.record_purge_interval_s <= 0 or not 1 <= self.record_purge_batch <= 5000:
            raise ValueError("RECORD_PURGE_INTERVAL_S must be positive and RECORD_PURGE_BATCH 1 to 5000")
        if not self.sms_retry_delays_s or self.sms_max_attempts < 1:
            raise ValueError("SMS_RETRY_DELAYS_S needs a delay and SMS_MAX_ATTEMPTS at least 1")
        if not 0 <= self.core_retry_backoff_ms <= 1000:
            raise ValueError("CORE_RETRY_BACKOFF_MS must be between 0 and 1000")
        if self.trusted_proxy_count < 0:
            raise ValueError("TRUSTED_PROXY_COUNT must be 0 (no proxy) or the number of proxies in front")
        for cidr in self.at_allowed_networks:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(
                    f"AT_ALLOWED_NETWORKS: {cidr!r} is not a network (e.g. 196.201.214.0/24)"
                ) from None

    def text_limit(self, aggregator: str) -> int:
        """Characters of screen text `aggregator` may show: its own setting, or the room Africa's
        Talking's screens have once `CON ` is counted, so every aggregator shows the same screens."""
        own = {"hubtel": self.hubtel_screen_limit, "arkesel": self.arkesel_screen_limit}.get(aggregator, 0)
        return own or self.screen_limit - 4
