"""The Flask app factory of the reference core service."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from flask import Flask, g
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from stand_ins.core_service import admin, api, payments, webhooks
from stand_ins.core_service.background import BackgroundWorker
from stand_ins.core_service.config import load_config
from stand_ins.core_service.db import Base, make_engine, make_session_factory
from stand_ins.core_service.errors import register_error_handlers
from stand_ins.core_service.pins import make_hasher


@dataclass
class CoreState:
    """What the views share: the engine, the session factory, the PIN hasher and the worker."""

    engine: Engine
    session_factory: sessionmaker
    hasher: PasswordHasher
    payment_settings: payments.PaymentSettings
    worker: BackgroundWorker | None

    def wake(self) -> None:
        """Ask the background thread to deliver new events now rather than at the next tick."""
        if self.worker is not None:
            self.worker.wake()

    def close(self) -> None:
        """Stop the background thread and release the database (tests restart the service)."""
        if self.worker is not None:
            self.worker.stop()
        self.engine.dispose()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the core service. Settings come from the environment (see config.py), then `config`.

    Tables are created if missing. With `BACKGROUND` true (the default) a daemon thread settles
    payments and delivers webhooks; `app.extensions["core"].close()` stops it.
    """
    app = Flask(__name__)
    app.config.update(load_config(config))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    engine = make_engine(app.config["DATABASE_URL"])
    Base.metadata.create_all(engine)
    session_factory = make_session_factory(engine)
    payment_settings = payments.PaymentSettings(
        delay_s=float(app.config["PAYMENT_DELAY_S"]),
        fail_phones=frozenset(p.strip() for p in app.config["PAYMENT_FAIL_PHONES"].split(",") if p.strip()),
        fail_amount_kes=app.config["PAYMENT_FAIL_AMOUNT_KES"],
    )
    worker = None
    if app.config["BACKGROUND"]:
        delivery = webhooks.DeliverySettings(
            url=app.config["GATEWAY_WEBHOOK_URL"],
            secret=app.config["WEBHOOK_SECRET"],
            timeout_s=float(app.config["WEBHOOK_TIMEOUT_S"]),
            retry_base_s=float(app.config["WEBHOOK_RETRY_BASE_S"]),
            retry_max_s=float(app.config["WEBHOOK_RETRY_MAX_S"]),
            max_attempts=int(app.config["WEBHOOK_MAX_ATTEMPTS"]),
        )
        worker = BackgroundWorker(session_factory, delivery, payment_settings, float(app.config["TICK_S"]))
        worker.start()
    app.extensions["core"] = CoreState(
        engine=engine,
        session_factory=session_factory,
        hasher=make_hasher(app.config["PIN_HASH_PROFILE"]),
        payment_settings=payment_settings,
        worker=worker,
    )

    @app.before_request
    def _open_session() -> None:
        g.db = session_factory()

    @app.teardown_request
    def _close_session(_exc: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.close()  # rolls back anything a failed request left uncommitted

    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    register_error_handlers(app)
    return app
