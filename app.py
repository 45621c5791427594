"""The gateway's Flask application factory and command-line entry point (`flask --app app …`)."""

from __future__ import annotations

import secrets

import redis
from flask import Flask, jsonify

from common.db import Database
from common.logs import configure_logging
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


def make_redis(url: str) -> redis.Redis:
    """A Redis client that fails fast: a citizen waits at most about a second when Redis is gone."""
    return redis.Redis.from_url(
        url,
        socket_timeout=0.5,
        socket_connect_timeout=0.25,
        retry_on_timeout=False,
        health_check_interval=30,
    )


def _add_sms_channel(app: Flask, settings: Settings, redis_client, database, store) -> None:
    """The SMS outbox, delivery reports, inbound SMS and the core service's webhook (docs/sms.md)."""
    from gateway.africastalking.sms import bp as at_sms_bp
    from gateway.events import bp as events_bp
    from sms.channel import build_channel

    app.extensions["sms"] = build_channel(settings, redis_client, database, store)
    app.register_blueprint(at_sms_bp)
    app.register_blueprint(events_bp)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the gateway. Tests pass `settings`; everything else reads the environment."""
    from gateway.africastalking.ussd import bp as at_ussd_bp
    from gateway.health import bp as health_bp
    from gateway.ussd import HopService
    from menus.registry import TreeRegistry
    from sessions.store import SessionStore

    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=_secret_key(), MAX_CONTENT_LENGTH=64 * 1024, JSON_SORT_KEYS=False)

    redis_client = make_redis(settings.redis_url)
    database = Database(settings.database_url)
    trees = TreeRegistry.from_directory(settings.trees_dir)
    store = SessionStore(
        redis_client,
        secret_key=app.config["SECRET_KEY"],
        session_ttl_s=settings.session_ttl_s,
        draft_ttl_s=settings.draft_ttl_s,
        language_ttl_s=settings.language_ttl_s,
        lock_ttl_ms=settings.lock_ttl_ms,
        lock_wait_ms=settings.lock_wait_ms,
        rate_limit_per_minute=settings.rate_limit_per_minute,
    )
    hops = HopService(
        store,
        trees,
        screen_limit=settings.screen_limit,
        default_language=settings.default_language,
        hop_budget_ms=settings.hop_budget_ms,
        max_tries=settings.max_invalid_tries,
    )
    app.extensions.update(settings=settings, redis=redis_client, database=database, trees=trees, hops=hops)

    app.register_blueprint(at_ussd_bp)
    app.register_blueprint(health_bp)
    _add_sms_channel(app, settings, redis_client, database, store)

    @app.errorhandler(404)
    def not_found(_error):
        return jsonify(error="not_found", message="no such endpoint"), 404

    @app.errorhandler(405)
    def wrong_method(_error):
        return jsonify(error="method_not_allowed", message="use POST for callbacks"), 405

    from cli import register_commands

    register_commands(app)
    return app
