"""The background thread: settles due payments and delivers due webhooks, every tick or at once
when a request wakes it."""

from __future__ import annotations

import logging
import threading

import requests
from sqlalchemy.orm import sessionmaker

from stand_ins.core_service import payments, webhooks

log = logging.getLogger(__name__)


class BackgroundWorker:
    """One daemon thread per app. `wake()` is cheap and safe from any thread; `stop()` joins."""

    def __init__(
        self,
        session_factory: sessionmaker,
        delivery: webhooks.DeliverySettings,
        payment_settings: payments.PaymentSettings,
        tick_s: float,
    ) -> None:
        self._session_factory = session_factory
        self._delivery = delivery
        self._payments = payment_settings
        self._tick_s = tick_s
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._http = requests.Session()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="core-background", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._http.close()

    def run_once(self) -> None:
        """One pass: settle payments (which may queue events), then deliver events."""
        with self._session_factory() as db:
            payments.settle_due(db, self._payments)
        webhooks.deliver_due(self._session_factory, self._http, self._delivery)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_once()
            except Exception:
                # keep the thread alive through a bad tick (e.g. the database briefly locked)
                log.exception("background tick failed")
            self._wakeup.wait(self._tick_s)
            self._wakeup.clear()
