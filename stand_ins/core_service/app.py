"""The Flask app factory of the reference core service."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from flask import Flask, g
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from stand_ins.core_service import admin, api, dev, paybill, payments, webhooks
from stand_ins.core_service.background import BackgroundWorker
from stand_ins.core_service.config import (
    DEVELOPMENT_C2B_TOKEN,
    InsecureSettings,
    is_production,
    load_config,
    production_problems,
)
from stand_ins.core_service.db import make_engine, make_session_factory, private_dir, sqlite_path
from stand_ins.core_service.errors import register_error_handlers
from stand_ins.core_service.guessing import GuessLimits
from stand_ins.core_service.identity import NationalIdHasher, derive_key, development_master_key
from stand_ins.core_service.pins import make_hasher
from stand_ins.core_service.population import PopulationRegister
from stand_ins.core_service.schema import prepare_schema


@dataclass
class CoreState:
    """What the views share: the engine, the session factory, the PIN hasher, the national ID
    hasher, the population register, the limits on guessing it, and the worker."""

    engine: Engine
    session_factory: sessionmaker
    hasher: PasswordHasher
    national_ids: NationalIdHasher
    register: PopulationRegister
    guess_limits: GuessLimits
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
        self.register.close()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the core service. Settings come from the environment (see config.py), then `config`.

    Raises InsecureSettings (naming every problem) for production with missing or development
    secrets. Tables are created if missing; the population register is generated on first start.
    With `BACKGROUND` true (the default) a daemon thread settles payments and delivers webhooks;
    `app.extensions["core"].close()` stops it. `/dev/*` exists only outside production;
    `/mpesa/c2b/*` (paybill payments) only with a C2B token (always set in development).
    """
    app = Flask(__name__)
    app.config.update(load_config(config))
    problems = production_problems(app.config)
    if problems:
        raise InsecureSettings(problems)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    var_dir = Path(app.config["VAR_DIR"])
    files = [sqlite_path(app.config[key]) for key in ("DATABASE_URL", "REGISTER_URL")]
    if not app.config["ID_HASH_KEY"] or any(f and var_dir.resolve() in f.resolve().parents for f in files):
        private_dir(var_dir)
    if not app.config["ID_HASH_KEY"]:
        master = development_master_key(var_dir)
        app.config["ID_HASH_KEY"] = derive_key(master, "national-id-hash")
    national_ids = NationalIdHasher(app.config["ID_HASH_KEY"])
    register = PopulationRegister.open(
        app.config["REGISTER_URL"], app.config["REGISTER_SEED"], app.config["REGISTER_SIZE"]
    )
    engine = make_engine(app.config["DATABASE_URL"])
    prepare_schema(engine, national_ids)
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
        national_ids=national_ids,
        register=register,
        guess_limits=GuessLimits(
            per_phone=int(app.config["REGISTER_MAX_FAILURES_PER_PHONE"]),
            per_id=int(app.config["REGISTER_MAX_FAILURES_PER_ID"]),
            window_s=int(app.config["REGISTER_FAILURE_WINDOW_S"]),
        ),
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
    if not is_production(app.config):
        app.register_blueprint(dev.bp)
    if not app.config["C2B_TOKEN"] and not is_production(app.config):
        app.config["C2B_TOKEN"] = DEVELOPMENT_C2B_TOKEN
    if app.config["C2B_TOKEN"]:
        app.register_blueprint(paybill.bp)
    register_error_handlers(app)
    return app
