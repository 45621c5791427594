"""Fixtures for the SMS channel: an app with quick retry settings, the sandbox over real HTTP, an
in-process worker context pointed at it, and a stand-in for the core service's status lookup."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from config import Settings
from gateway.africastalking.sender import AfricasTalkingSender, ProviderConfig
from gateway.events import signature_of
from records.sms import FINAL_STATUSES, QUEUED, SENT, SmsMessage, utcnow
from sms.lookups import ApplicationStatus, LookupUnavailable
from sms.worker import WorkerContext, send_batch
from stand_ins.at_sandbox.testing import running_sandbox

WEBHOOK_SECRET = "test-webhook-secret"


@pytest.fixture()
def settings(redis_server, redis_client, database_url) -> Settings:
    return Settings.from_env(
        redis_url=redis_server.url,
        database_url=database_url,
        log_level="WARNING",
        webhook_secret=WEBHOOK_SECRET,
        sms_retry_delays_s=(0.1, 0.2, 0.3),
        sms_max_attempts=5,
        sms_stuck_after_s=1.0,
        sms_requeue_after_s=0.5,
        sms_send_threads=16,
        sms_batch_size=20,
    )


class FakeLookup:
    """The core service as STATUS sees it: a dict of applications and their owners' phones; `down`
    makes it unavailable."""

    def __init__(self) -> None:
        self.down = False
        self.applications = {
            "ECZ-7K3Q9P": ApplicationStatus(
                "ECZ-7K3Q9P",
                "approved",
                {"en": "Birth certificate", "sw": "Cheti cha Kuzaliwa"},
                dt.date(2026, 11, 27),
            )
        }
        self.owners = {"ECZ-7K3Q9P": "+254712345678"}
        self.names = {"good-conduct": {"en": "Certificate of Good Conduct", "sw": "Cheti cha Maadili Mema"}}

    def status_of(self, reference: str, phone: str) -> ApplicationStatus | None:
        if self.down:
            raise LookupUnavailable("core service down (test)")
        key = reference.upper()
        if "-" not in key:
            key = f"{key[:3]}-{key[3:]}"
        if self.owners.get(key) != phone:
            return None  # someone else's is as unknown as no application at all
        return self.applications.get(key)

    def service_name(self, code: str):
        return self.names.get(code)


@pytest.fixture()
def lookup(app) -> FakeLookup:
    fake = FakeLookup()
    app.extensions["sms"].lookup = fake
    return fake


@pytest.fixture()
def channel(app):
    return app.extensions["sms"]


@pytest.fixture()
def sandbox() -> Iterator:
    with running_sandbox() as server:
        yield server


def worker_context(channel, sandbox_url: str) -> WorkerContext:
    """A worker context in this process for the app's SMS `channel`, sending to the sandbox at
    `sandbox_url` with short timeouts; the caller closes it."""
    return WorkerContext(
        settings=channel.settings,
        database=channel.database,
        outbox=channel.outbox,
        sender=AfricasTalkingSender(ProviderConfig(api_url=sandbox_url, timeout=(1.0, 1.0))),
        language_of=channel.language_of,
        languages_of=channel.languages_of,
        trail=channel.trail,
    )


@pytest.fixture()
def worker(app, sandbox) -> Iterator[WorkerContext]:
    """A worker context in this process, sending to the sandbox with short timeouts."""
    context = worker_context(app.extensions["sms"], sandbox.url)
    yield context
    context.close()


def rows(database) -> list[SmsMessage]:
    with database.session() as session:
        return list(session.scalars(select(SmsMessage).order_by(SmsMessage.id)))


def drain(context: WorkerContext, timeout_s: float = 10.0) -> list[SmsMessage]:
    """Run batches in this process until every row is settled (final or sent), waiting for retries."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with context.database.session() as session:
            due = session.scalar(
                select(SmsMessage.id)
                .where(SmsMessage.status == QUEUED, SmsMessage.next_attempt_at <= utcnow())
                .order_by(SmsMessage.id)
            )
            open_rows = session.scalar(
                select(SmsMessage.id).where(SmsMessage.status.not_in([*FINAL_STATUSES, SENT]))
            )
        if due is not None:
            send_batch(context, due)
        elif open_rows is None:
            return rows(context.database)
        else:
            time.sleep(0.05)
    raise AssertionError(
        f"outbox not settled in {timeout_s}s: {[(r.id, r.status) for r in rows(context.database)]}"
    )


def signed_post(
    client,
    event: dict,
    secret: str = WEBHOOK_SECRET,
    signature: str | None = None,
    event_id: str | None = None,
    at: float | None = None,
):
    """Post `event` as the core service does: X-Event-Id, and X-Signature over time, id and body."""
    body = json.dumps(event).encode()
    event_id = event_id or str(event.get("event_id") or event.get("id") or "ev-1")
    stamp = int(time.time() if at is None else at)
    headers = {
        "Content-Type": "application/json",
        "X-Event-Id": event_id,
        "X-Signature": signature or signature_of(body, secret, event_id, stamp),
    }
    return client.post("/events/application-status", data=body, headers=headers)
