"""The gateway's Flask application factory and command-line entry point (`flask --app app …`).

`create_app` is where every service is built, once, and handed to whatever uses it: read it to
find every collaborator of the hop service (docs/architecture.md draws the whole picture).
"""

from __future__ import annotations

import sys

import redis
from flask import Flask, jsonify
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface
from rq import Queue
from werkzeug.middleware.proxy_fix import ProxyFix

from analytics import register_analytics
from audit.backend import BackendObserver
from audit.hops import HopAuditor
from audit.live import live_collectors
from audit.metrics import AUDIT_WRITE_FAILURES
from audit.pseudonym import Pseudonymiser
from audit.trail import AuditTrail
from backend_client import CoreClient
from citizen.actions import Actions
from citizen.drafts import DraftNotices
from citizen.queued import QUEUE_NAME, QueuedWork, RqApplicationQueue
from cli import register_commands
from common.db import Database
from common.keys import GatewayKeys, laptop_master_key
from common.logs import configure_logging
from common.lookup_limits import LookupLimits
from common.production import InsecureSettings, gateway_problems
from common.redis_conn import queue_client, session_client
from common.stream_pipe import StreamPipe
from config import VAR_DIR, Settings
from console.operators import forward_operator_events
from console.setup import init_console
from gateway.africastalking.sender import AfricasTalkingSender, ProviderConfig
from gateway.africastalking.sms_callbacks import DeliveryReports, InboundMessages
from gateway.africastalking.ussd import UssdCallback, ussd_blueprint
from gateway.arkesel.replay import SameInputReplay
from gateway.arkesel.ussd import ArkeselCallback
from gateway.callbacks import Callback, callback_blueprint
from gateway.callers import CallerNetworks
from gateway.events import StatusWebhook
from gateway.health import health_blueprint
from gateway.hubtel.ussd import HubtelCallback
from gateway.lane import CallbackLane
from gateway.metrics import live_registry
from gateway.security_headers import add_security_headers, security_headers
from gateway.sink import HopEvents
from gateway.ussd import HopService
from menus.live import LiveTreeRegistry
from sessions.drops import DropWatch
from sessions.store import SecretBox, SessionStore
from sms.channel import SmsChannel
from sms.lookups import BackendLookup
from sms.outbox import Outbox


def _hop_event_sink(settings: Settings, queue_redis: redis.Redis):
    """None when sessions and the audit stream share one Redis (the event rides in the session's
    commit script); otherwise a pipe that writes hop events to the queue Redis off the hop path."""
    if settings.session_url == settings.queue_url:
        return None
    return StreamPipe(queue_redis, on_failure=lambda stage, n: AUDIT_WRITE_FAILURES.labels(stage).inc(n))


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that a body nested too deeply for the parser is a bad request (400,
    through `request.get_json`), never a RecursionError and a 500."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON is nested too deeply") from None


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
    """Build the gateway. Tests pass `settings`; everything else reads the environment.

    Raises `InsecureSettings` (naming every problem) when GATEWAY_ENV=production lacks a proper
    secret, so no server or worker command starts with development keys.
    """
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    problems = gateway_problems(settings)
    if problems:
        refused = InsecureSettings(problems)
        print(refused.report("eCitizen gateway"), file=sys.stderr, flush=True)
        raise refused
    # One key per purpose from SECRET_KEY (common/keys.py); a laptop's is generated under VAR_DIR.
    keys = GatewayKeys.derive(
        settings.secret_key or laptop_master_key(VAR_DIR), pseudonym_key=settings.audit_pseudonym_key
    )
    app = Flask(__name__)
    app.config.update(SECRET_KEY=keys.cookies, MAX_CONTENT_LENGTH=64 * 1024)
    app.json = BoundedJSONProvider(app)
    app.json.sort_keys = False  # keep JSON fields in the order the code writes them
    app.session_interface = LazySessionInterface()
    add_security_headers(app, hsts=settings.production)

    # Stores. Two Redis roles (common/redis_conn.py): sessions, locks and the live tree on one (may be
    # a cluster); RQ queues and the audit stream on the other. One URL (REDIS_URL) serves both.
    redis_client = session_client(settings)
    queue_redis = queue_client(settings)
    database = Database(settings.database_url)
    # Starts with the YAML trees; follows versions published from the console through Redis.
    trees = LiveTreeRegistry.from_directory(settings.trees_dir)
    box = SecretBox(keys.sealing, keys.legacy_sealing)
    store = SessionStore(
        redis_client,
        box,
        session_ttl_s=settings.session_ttl_s,
        draft_ttl_s=settings.draft_ttl_s,
        language_ttl_s=settings.language_ttl_s,
        lock_ttl_ms=settings.lock_ttl_ms,
        lock_wait_ms=settings.lock_wait_ms,
        rate_limit_per_minute=settings.rate_limit_per_minute,
        caller_ttl_s=settings.caller_ttl_s,
        guest_ttl_s=settings.caller_guest_ttl_s,
        event_sink=_hop_event_sink(settings, queue_redis),
    )

    # The audit trail, and everything that records into it.
    pseudonyms = Pseudonymiser(keys.pseudonyms)
    trail = AuditTrail(queue_redis, pseudonyms, settings.audit_stream_maxlen)
    forward_operator_events(database, trail)
    core = CoreClient(
        settings.core_url,
        per_call_timeout_s=settings.hop_budget_ms / 1000,
        retry_backoff_s=settings.core_retry_backoff_ms / 1000,
        observe=BackendObserver(trail),
    )
    outbox = Outbox(database, queue_redis, settings.sms_queue, settings.phone_regions, trail=trail)

    # The hop service and its collaborators. Writes that miss the hop's budget wait in RQ queue
    # 'default', sealed; SMS and audit events come back as effects. Lookups by reference are
    # limited the same way for USSD and SMS.
    lookups = LookupLimits(
        redis_client,
        keys.counters,
        max_misses_per_phone=settings.lookup_max_misses_per_phone,
        max_misses_per_reference=settings.lookup_max_misses_per_reference,
        window_s=settings.lookup_window_s,
        max_per_minute=settings.lookup_max_per_minute,
    )
    actions = Actions(
        core,
        RqApplicationQueue(Queue(QUEUE_NAME, connection=queue_redis), box),
        lookups,
        caller_lookup_s=settings.caller_lookup_ms / 1000,
    )
    auditor = HopAuditor(trail, trees) if settings.audit_enabled else None
    # A session that drops mid-application keeps its draft and gets one SMS (the worker sweeps).
    drafts = DraftNotices(
        store,
        trees,
        DropWatch(redis_client),
        outbox.notify,
        idle_s=settings.session_ttl_s,
        keep_s=settings.draft_saved_ttl_s,
    )
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
        drafts=drafts,
    )

    # The SMS channel: outbox, delivery reports, inbound commands, the core service's webhook.
    channel = SmsChannel(
        settings, database, outbox, store, BackendLookup(core, settings.sms_lookup_budget_s), trail, lookups
    )

    app.extensions.update(
        settings=settings,
        keys=keys,
        redis=redis_client,
        queue_redis=queue_redis,
        database=database,
        trees=trees,
        hops=hops,
        actions=actions,
        drafts=drafts,
        core_client=core,
        audit=trail,
        sms=channel,
        # For the worker commands (cli.py, sms/cli.py): what their jobs work with.
        queued_work=QueuedWork(core, box, outbox),
        sms_sender_factory=_sms_sender,
    )

    at_networks = CallerNetworks(settings.at_allowed_networks)
    # One USSD callback per enabled aggregator (AGGREGATORS); a disabled one's path is a 404.
    callbacks: list[Callback] = []
    if "africastalking" in settings.aggregators:
        at_ussd = UssdCallback(
            hops,
            callback_secret=settings.at_callback_secret,
            phone_regions=settings.phone_regions,
            transcript_key=keys.transcript,
            networks=at_networks,
        )
        callbacks.append(at_ussd)
        app.register_blueprint(
            ussd_blueprint(at_ussd, database=database, pseudonym=pseudonyms.of, drafts=drafts)
        )
    if "hubtel" in settings.aggregators:
        hubtel = HubtelCallback(
            hops,
            callback_secret=settings.hubtel_callback_secret,
            phone_regions=settings.phone_regions,
            service_codes=dict(settings.hubtel_service_codes),
            text_limit=settings.text_limit("hubtel"),
            database=database,
            pseudonym=pseudonyms.of,
        )
        callbacks.append(hubtel)
        app.register_blueprint(callback_blueprint("hubtel_ussd", hubtel))
    if "arkesel" in settings.aggregators:
        replay = SameInputReplay(keys.transcript, settings.arkesel_replay_window_s)
        app.extensions["arkesel_replay"] = replay  # its clock is what tests move
        arkesel = ArkeselCallback(
            hops,
            callback_secret=settings.arkesel_callback_secret,
            phone_regions=settings.phone_regions,
            tree_id=settings.arkesel_tree,
            service_code=settings.arkesel_service_code,
            text_limit=settings.text_limit("arkesel"),
            replay=replay,
        )
        callbacks.append(arkesel)
        app.register_blueprint(callback_blueprint("arkesel_ussd", arkesel))
    # One SMS's other callbacks: the core's status webhook, its delivery report (and inbound SMS).
    sms_callbacks = [
        StatusWebhook(
            channel,
            webhook_secret=settings.webhook_secret,
            seen=redis_client,
            max_age_s=settings.webhook_max_age_s,
            forget_caller=store.forget_caller,
            phone_regions=settings.phone_regions,
        ),
        *(
            kind(
                channel,
                callback_secret=settings.at_callback_secret,
                phone_regions=settings.phone_regions,
                networks=at_networks,
            )
            for kind in (DeliveryReports, InboundMessages)
        ),
    ]
    callbacks += sms_callbacks
    app.register_blueprint(callback_blueprint("sms_callbacks", *sms_callbacks))
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

    if settings.callback_lane:
        # Callbacks skip Flask's per-request work; every other route stays with Flask.
        lane = CallbackLane(app.wsgi_app, security_headers(hsts=settings.production))
        for callback in callbacks:
            lane.add(callback)
        app.wsgi_app = lane  # type: ignore[method-assign]
    if settings.trusted_proxy_count:
        # Outside the lane, so the lane sees it too: remote_addr (callback allow-list, login
        # throttle) is the client's address as the outermost trusted proxy saw it; an
        # X-Forwarded-For written by the client is ignored.
        n = settings.trusted_proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]

    register_commands(app)
    return app
