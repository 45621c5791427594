"""The gateway's Flask application factory and command-line entry point (`flask --app app …`)."""

from __future__ import annotations

import secrets

import redis
from flask import Flask, jsonify
from flask.sessions import SecureCookieSessionInterface

from common.db import Database
from common.logs import configure_logging
from common.redis_conn import queue_client, session_client
from config import VAR_DIR, Settings


def _secret_key() -> str:
    """SECRET_KEY from the environment; on a laptop, one generated once and kept under var/."""
    import os

    configured = os.environ.get("SECRET_KEY", "")
    if configured:
        return configured
    path = VAR_DIR / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _hop_event_sink(settings: Settings, queue_redis: redis.Redis):
    """None when sessions and the audit stream share one Redis (the event rides in the session's
    commit script); otherwise a pipe that writes hop events to the queue Redis off the hop path."""
    if settings.session_url == settings.queue_url:
        return None
    from audit.metrics import AUDIT_WRITE_FAILURES
    from common.stream_pipe import StreamPipe

    return StreamPipe(queue_redis, on_failure=lambda stage, n: AUDIT_WRITE_FAILURES.labels(stage).inc(n))


class LazySessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building a signer for requests that carry no cookie:
    aggregator callbacks never do, and they are the hot path."""

    def open_session(self, app: Flask, request):
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def _wire_audit(app: Flask, settings: Settings, redis_client: redis.Redis, trees, hops) -> None:
    """Audit trail (hop listener, `audit.record`), its live metrics, and the analytics pages."""
    from analytics import register_analytics
    from audit.metrics import install_live_collectors
    from audit.setup import init_audit
    from gateway.metrics import LIVE

    hops.auditor = init_audit(app, settings, redis_client, trees)
    install_live_collectors(LIVE, redis_client)
    register_analytics(app)


def _wire_citizen_services(app: Flask, settings: Settings, redis_client: redis.Redis) -> None:
    """One CoreClient per process for the journeys' actions; writes that miss the hop's budget go
    to RQ queue 'default'; SMS requests go through notifications.notify to the SMS outbox."""
    from rq import Queue

    from backend_client import CoreClient
    from citizen.queued import QUEUE_NAME
    from citizen.registry import configure

    core = CoreClient(settings.core_url, per_call_timeout_s=settings.hop_budget_ms / 1000)
    configure(core, secret_key=app.config["SECRET_KEY"], queue=Queue(QUEUE_NAME, connection=redis_client))
    app.extensions["core_client"] = core


def _add_sms_channel(app: Flask, settings: Settings, redis_client, database, store) -> None:
    """The SMS outbox, delivery reports, inbound SMS and the core service's webhook (docs/sms.md)."""
    from gateway.africastalking.sms_callbacks import bp as at_sms_bp
    from gateway.events import bp as events_bp
    from sms.channel import build_channel

    core_client = app.extensions.get("core_client")
    app.extensions["sms"] = build_channel(settings, redis_client, database, store, core_client)
    app.register_blueprint(at_sms_bp)
    app.register_blueprint(events_bp)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the gateway. Tests pass `settings`; everything else reads the environment."""
    from console import init_console
    from gateway.africastalking.ussd import bp as at_ussd_bp
    from gateway.health import bp as health_bp
    from gateway.ussd import HopService
    from menus.live import LiveTreeRegistry
    from sessions.store import SessionStore

    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=_secret_key(), MAX_CONTENT_LENGTH=64 * 1024)
    app.json.sort_keys = False  # keep JSON fields in the order the code writes them
    app.session_interface = LazySessionInterface()

    # Two Redis roles (common/redis_conn.py): sessions, locks and the live tree on one (may be a
    # cluster); RQ queues and the audit stream on the other. One URL (REDIS_URL) serves both.
    redis_client = session_client(settings)
    queue_redis = queue_client(settings)
    database = Database(settings.database_url)
    # Starts with the YAML trees; follows versions published from the console through Redis.
    trees = LiveTreeRegistry.from_directory(settings.trees_dir)
    store = SessionStore(
        redis_client,
        secret_key=app.config["SECRET_KEY"],
        session_ttl_s=settings.session_ttl_s,
        draft_ttl_s=settings.draft_ttl_s,
        language_ttl_s=settings.language_ttl_s,
        lock_ttl_ms=settings.lock_ttl_ms,
        lock_wait_ms=settings.lock_wait_ms,
        rate_limit_per_minute=settings.rate_limit_per_minute,
        event_sink=_hop_event_sink(settings, queue_redis),
    )
    hops = HopService(
        store,
        trees,
        screen_limit=settings.screen_limit,
        default_language=settings.default_language,
        hop_budget_ms=settings.hop_budget_ms,
        max_tries=settings.max_invalid_tries,
        log_hops=settings.log_level == "DEBUG",
    )
    app.extensions.update(settings=settings, redis=redis_client, database=database, trees=trees, hops=hops)
    app.extensions["queue_redis"] = queue_redis
    _wire_audit(app, settings, queue_redis, trees, hops)
    _wire_citizen_services(app, settings, queue_redis)

    app.register_blueprint(at_ussd_bp)
    app.register_blueprint(health_bp)
    init_console(app)  # /console, /api/v1, `operators` commands; menu versions from SQL via Redis
    _add_sms_channel(app, settings, queue_redis, database, store)

    @app.errorhandler(404)
    def not_found(_error):
        return jsonify(error="not_found", message="no such endpoint"), 404

    @app.errorhandler(405)
    def wrong_method(_error):
        return jsonify(error="method_not_allowed", message="use POST for callbacks"), 405

    from cli import register_commands

    register_commands(app)
    return app
