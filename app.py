"""The gateway's Flask application factory and command-line entry point (`flask --app app …`).

`create_app` is where every service is built, once, and handed to whatever uses it: read it to
find every collaborator of the hop service (docs/architecture.md draws the whole picture).
"""

from __future__ import annotations

import os
import secrets

import redis
from flask import Flask, jsonify
from flask.sessions import SecureCookieSessionInterface
from rq import Queue

from analytics import register_analytics
from audit.backend import BackendObserver
from audit.hops import HopAuditor
from audit.live import live_collectors
from audit.metrics import AUDIT_WRITE_FAILURES
from audit.pseudonym import Pseudonymiser, pseudonym_key
from audit.trail import AuditTrail
from backend_client import CoreClient
from citizen.actions import Actions
from citizen.queued import QUEUE_NAME, QueuedWork, RqApplicationQueue
from cli import register_commands
from common.db import Database
from common.logs import configure_logging
from common.redis_conn import queue_client, session_client
from common.stream_pipe import StreamPipe
from config import VAR_DIR, Settings
from console.operators import forward_operator_events
from console.setup import init_console
from gateway.africastalking.sender import AfricasTalkingSender, ProviderConfig
from gateway.africastalking.sms_callbacks import sms_blueprint
from gateway.africastalking.transcript import transcript_key
from gateway.africastalking.ussd import UssdCallback, ussd_blueprint
from gateway.events import events_blueprint
from gateway.health import health_blueprint
from gateway.lane import CallbackLane
from gateway.metrics import live_registry
from gateway.sink import HopEvents
from gateway.ussd import HopService
from menus.live import LiveTreeRegistry
from sessions.store import SecretBox, SessionStore
from sms.channel import SmsChannel
from sms.lookups import BackendLookup
from sms.outbox import Outbox


def _secret_key() -> str:
    """SECRET_KEY from the environment; on a laptop, one generated once and kept under var/."""
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
    return StreamPipe(queue_redis, on_failure=lambda stage, n: AUDIT_WRITE_FAILURES.labels(stage).inc(n))


class LazySessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building a signer for requests that carry no cookie:
    aggregator callbacks never do, and they are the hot path."""

    def open_session(self, app: Flask, request):
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def _sms_sender() -> AfricasTalkingSender:
    """The SMS provider's sender, for the SMS worker commands (one per worker process)."""
    return AfricasTalkingSender(ProviderConfig.from_env())


def create_app(settings: Settings | None = None) -> Flask:
    """Build the gateway. Tests pass `settings`; everything else reads the environment."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=_secret_key(), MAX_CONTENT_LENGTH=64 * 1024)
    app.json.sort_keys = False  # keep JSON fields in the order the code writes them
    app.session_interface = LazySessionInterface()
    secret_key = app.config["SECRET_KEY"]

    # Stores. Two Redis roles (common/redis_conn.py): sessions, locks and the live tree on one (may be
    # a cluster); RQ queues and the audit stream on the other. One URL (REDIS_URL) serves both.
    redis_client = session_client(settings)
    queue_redis = queue_client(settings)
    database = Database(settings.database_url)
    # Starts with the YAML trees; follows versions published from the console through Redis.
    trees = LiveTreeRegistry.from_directory(settings.trees_dir)
    store = SessionStore(
        redis_client,
        secret_key=secret_key,
        session_ttl_s=settings.session_ttl_s,
        draft_ttl_s=settings.draft_ttl_s,
        language_ttl_s=settings.language_ttl_s,
        lock_ttl_ms=settings.lock_ttl_ms,
        lock_wait_ms=settings.lock_wait_ms,
        rate_limit_per_minute=settings.rate_limit_per_minute,
        event_sink=_hop_event_sink(settings, queue_redis),
    )

    # The audit trail, and everything that records into it.
    pseudonyms = Pseudonymiser(pseudonym_key(settings.audit_pseudonym_key, secret_key))
    trail = AuditTrail(queue_redis, pseudonyms, settings.audit_stream_maxlen)
    forward_operator_events(database, trail)
    core = CoreClient(
        settings.core_url,
        per_call_timeout_s=settings.hop_budget_ms / 1000,
        observe=BackendObserver(trail),
    )
    outbox = Outbox(database, queue_redis, settings.sms_queue, settings.phone_regions, trail=trail)

    # The hop service and its collaborators. Writes that miss the hop's budget wait in RQ queue
    # 'default' with the PIN sealed by SECRET_KEY; SMS and audit events come back as effects.
    box = SecretBox(secret_key)
    actions = Actions(core, RqApplicationQueue(Queue(QUEUE_NAME, connection=queue_redis), box))
    auditor = HopAuditor(trail, trees) if settings.audit_enabled else None
    hops = HopService(
        trees,
        store,
        actions,
        HopEvents(outbox, trail, auditor),
        screen_limit=settings.screen_limit,
        default_language=settings.default_language,
        hop_budget_ms=settings.hop_budget_ms,
        max_tries=settings.max_invalid_tries,
        log_hops=settings.log_level == "DEBUG",
    )

    # The SMS channel: outbox, delivery reports, inbound commands, the core service's webhook.
    channel = SmsChannel(
        settings, database, outbox, store, BackendLookup(core, settings.sms_lookup_budget_s), trail
    )

    app.extensions.update(
        settings=settings,
        redis=redis_client,
        queue_redis=queue_redis,
        database=database,
        trees=trees,
        hops=hops,
        actions=actions,
        core_client=core,
        audit=trail,
        sms=channel,
        # For the worker commands (cli.py, sms/cli.py): what their jobs work with.
        queued_work=QueuedWork(core, box, outbox),
        sms_sender_factory=_sms_sender,
    )

    at_ussd = UssdCallback(
        hops,
        callback_secret=settings.at_callback_secret,
        phone_regions=settings.phone_regions,
        transcript_key=transcript_key(secret_key),
    )
    app.register_blueprint(
        ussd_blueprint(
            at_ussd,
            callback_secret=settings.at_callback_secret,
            phone_regions=settings.phone_regions,
            database=database,
            pseudonym=pseudonyms.of,
        )
    )
    if settings.callback_lane:
        # USSD callbacks skip Flask's per-request work; every other route stays with Flask.
        lane = CallbackLane(app.wsgi_app)
        lane.add("/ussd/africastalking", at_ussd)
        app.wsgi_app = lane
    app.register_blueprint(
        sms_blueprint(
            channel, callback_secret=settings.at_callback_secret, phone_regions=settings.phone_regions
        )
    )
    app.register_blueprint(events_blueprint(channel, webhook_secret=settings.webhook_secret))
    app.register_blueprint(
        health_blueprint(
            redis_client,
            queue_redis,
            database,
            live_registry(live_collectors(queue_redis)),
            drain_file=settings.drain_file,
        )
    )
    init_console(app)  # /console, /api/v1, `operators` commands; menu versions from SQL via Redis
    register_analytics(app)

    @app.errorhandler(404)
    def not_found(_error):
        return jsonify(error="not_found", message="no such endpoint"), 404

    @app.errorhandler(405)
    def wrong_method(_error):
        return jsonify(error="method_not_allowed", message="use POST for callbacks"), 405

    register_commands(app)
    return app
