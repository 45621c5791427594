"""Webhooks over real HTTP: the core service runs on a free port, a tiny receiver checks them."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable

import requests
from flask import Flask, request
from sqlalchemy import select

from gateway.events import signature_problem
from stand_ins.core_service.models import WebhookEvent
from stand_ins.core_service.testing import CoreServer, WsgiThread, free_port, unregistered_people
from tests.stand_ins.core_service.conftest import ADMIN, GOOD_CONDUCT, PHONE, PIN, core_config, registration

SECRET = "test-secret"


class Receiver:
    """The gateway's side of the webhook, as small as it gets: verify, record, 204."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.bad_signatures = 0
        self.lock = threading.Lock()
        self.app = Flask("receiver")
        self.app.add_url_rule("/events/application-status", view_func=self.receive, methods=["POST"])

    def receive(self):
        raw = request.get_data()
        # Written from the contract, not from either side's code: t=<unix>,v1=HMAC(t.event_id.body).
        stamp, _, digest = request.headers.get("X-Signature", "").partition(",v1=")
        message = f"{stamp.removeprefix('t=')}.{request.headers.get('X-Event-Id')}.".encode() + raw
        expected = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
        fresh = stamp.startswith("t=") and abs(time.time() - int(stamp[2:])) < 60
        if not (fresh and hmac.compare_digest(digest, expected)):
            self.bad_signatures += 1
            return "", 401
        with self.lock:
            self.events.append(json.loads(raw) | {"_headers": dict(request.headers)})
        return "", 204

    def of_type(self, event_type: str) -> list[dict]:
        with self.lock:
            return [e for e in self.events if e["type"] == event_type]


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def _submit(core: CoreServer) -> str:
    body = registration(unregistered_people(core.url)[0])
    requests.post(f"{core.url}/citizens", json=body, timeout=5).raise_for_status()
    response = requests.post(
        f"{core.url}/applications",
        json={"phone": PHONE, "pin": PIN} | GOOD_CONDUCT,
        headers={"Idempotency-Key": "webhook-test-1"},
        timeout=5,
    )
    response.raise_for_status()
    return response.json()["reference"]


def test_events_are_signed_and_carry_the_change(tmp_path):
    receiver = Receiver()
    with WsgiThread(receiver.app) as gateway:
        config = core_config(
            tmp_path, BACKGROUND=True, GATEWAY_WEBHOOK_URL=f"{gateway.url}/events/application-status"
        )
        with CoreServer(config) as core:
            reference = _submit(core)
            moved = requests.post(
                f"{core.url}/admin/applications/{reference}/status",
                json={"status": "under_review", "note": "Fingerprints received"},
                headers=ADMIN,
                timeout=5,
            )
            assert moved.status_code == 200
            paid = requests.post(
                f"{core.url}/applications/{reference}/payments", json={"phone": PHONE}, timeout=5
            )
            assert paid.status_code == 201
            wait_for(
                lambda: receiver.of_type("payment.settled") and receiver.of_type("application.status_changed")
            )

    assert receiver.bad_signatures == 0
    [submitted] = receiver.of_type("application.submitted")
    assert (submitted["old_status"], submitted["new_status"]) == (None, "submitted")
    [changed] = receiver.of_type("application.status_changed")
    assert changed["reference"] == reference
    assert changed["phone"] == PHONE
    assert changed["service_code"] == "good_conduct"
    assert (changed["old_status"], changed["new_status"]) == ("submitted", "under_review")
    assert changed["note"] == "Fingerprints received"
    assert changed["_headers"]["X-Event-Id"] == changed["event_id"]
    [paid] = receiver.of_type("payment.settled")
    assert paid["payment"]["status"] == "paid" and paid["payment"]["amount_kes"] == 1050
    # the gateway's check agrees with the receiver above: re-encoded bytes no longer verify
    body = json.dumps({k: v for k, v in changed.items() if k != "_headers"}).encode()
    headers = changed["_headers"]
    assert signature_problem(body, headers["X-Signature"], headers["X-Event-Id"], SECRET) == "bad_signature"


def test_events_wait_while_the_gateway_is_down_then_arrive_once(tmp_path):
    gateway_port = free_port()
    config = core_config(
        tmp_path,
        BACKGROUND=True,
        GATEWAY_WEBHOOK_URL=f"http://127.0.0.1:{gateway_port}/events/application-status",
    )
    receiver = Receiver()
    with CoreServer(config) as core:
        _submit(core)
        session_factory = core.flask_app.extensions["core"].session_factory

        def attempts() -> int:
            with session_factory() as db:
                return db.scalar(select(WebhookEvent.attempts))

        wait_for(lambda: attempts() >= 2)  # refused, backed off, refused again
        with WsgiThread(receiver.app, port=gateway_port):
            wait_for(lambda: len(receiver.events) == 1)
            for _ in range(3):  # a few more passes: nothing is sent twice
                core.flask_app.extensions["core"].worker.run_once()
        with session_factory() as db:
            event = db.scalar(select(WebhookEvent))
            assert event.delivered_at is not None
            assert event.attempts >= 3
    assert len(receiver.events) == 1
    assert receiver.events[0]["event_id"] == event.id
    # each attempt was signed afresh: the delivered one is fresh and the gateway's check passes it
    delivered = receiver.events[0]["_headers"]
    assert signature_problem(event.body.encode(), delivered["X-Signature"], event.id, SECRET) is None


def test_undelivered_events_survive_a_restart(tmp_path):
    gateway_port = free_port()
    config = core_config(
        tmp_path,
        BACKGROUND=True,
        GATEWAY_WEBHOOK_URL=f"http://127.0.0.1:{gateway_port}/events/application-status",
    )
    core = CoreServer(config).start()
    _submit(core)
    core.stop()  # the event is only in the outbox table now
    receiver = Receiver()
    with WsgiThread(receiver.app, port=gateway_port), CoreServer(config):
        wait_for(lambda: len(receiver.events) == 1)
    assert receiver.events[0]["type"] == "application.submitted"
