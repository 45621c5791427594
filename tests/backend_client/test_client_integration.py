"""CoreClient against the reference core service (and a few misbehaving stubs) over real HTTP."""

from __future__ import annotations

import re
import threading
import time
from datetime import date
from typing import Any

import pytest
from flask import Flask, jsonify, request

from backend_client import (
    AccountLocked,
    BackendUnavailable,
    Budget,
    BudgetExhausted,
    CircuitBreaker,
    CircuitOpen,
    Conflict,
    CoreClient,
    IdentityMismatch,
    InvalidRequest,
    NotFound,
    Person,
    WrongPin,
)
from stand_ins.core_service.testing import WsgiThread, free_port
from tests.support import wait_until

PHONE = "+254722000111"
PIN = "5931"
ANSWERS = {"purpose": "travel", "county": "Mombasa"}


def _register(client: CoreClient, phone: str = PHONE, person: Person | None = None, **changes: Any):
    """Register `person` (default: someone from the core's register nobody registered as yet)."""
    person = person or client.dev_people(1)[0]
    details = person.model_dump() | changes
    return client.register_citizen(**details, phone=phone, pin=PIN)


def test_register_verify_and_find(client):
    person = client.dev_people(1)[0]
    citizen = _register(client, person=person)
    assert citizen.phone == PHONE and citizen.national_id_masked == "*****" + person.national_id[-3:]
    assert (citizen.first_name, citizen.date_of_birth) == (person.first_name, person.date_of_birth)
    assert client.verify_pin(PHONE, PIN).id == citizen.id
    assert client.find_citizen(PHONE).id == citizen.id
    assert client.find_citizen("+254700999888") is None
    with pytest.raises(Conflict) as duplicate:
        _register(client, person=person)
    assert duplicate.value.code == "already_registered"
    with pytest.raises(InvalidRequest) as invalid:
        _register(client, phone="0722000111")
    assert invalid.value.field == "phone"


def test_details_not_in_the_register_are_an_identity_mismatch(client):
    person = client.dev_people(1)[0]
    with pytest.raises(IdentityMismatch) as mismatch:
        _register(client, person=person, date_of_birth=date(1990, 1, 1))
    assert (mismatch.value.code, mismatch.value.status) == ("identity_mismatch", 422)
    assert client.find_citizen(PHONE) is None
    other_phone = "+254722000222"
    _register(client, other_phone, person=person)
    with pytest.raises(Conflict) as taken:
        _register(client, person=person)
    assert taken.value.details == {"field": "national_id"}
    assert other_phone not in taken.value.message


def test_dev_people_are_unregistered_people_from_the_register(client):
    people = client.dev_people(5)
    assert len({p.national_id for p in people}) == 5
    assert all(len(p.national_id) == 8 and p.national_id.isdigit() for p in people)
    _register(client, person=people[0])
    fresh = {p.national_id for p in client.dev_people(100)}
    assert people[0].national_id not in fresh


def test_wrong_pins_then_locked(client):
    _register(client)
    with pytest.raises(WrongPin) as first:
        client.verify_pin(PHONE, "0000")
    assert first.value.attempts_left == 2
    with pytest.raises(WrongPin):
        client.verify_pin(PHONE, "0000")
    with pytest.raises(AccountLocked) as locked:
        client.verify_pin(PHONE, "0000")
    assert locked.value.retry_after == 900


def test_catalogue(client):
    services = client.list_services()
    assert len(services) >= 8
    good_conduct = client.get_service("good_conduct")
    assert good_conduct.fee_kes == 1050
    assert good_conduct.name.get("sw") == "Cheti cha Maadili Mema"
    assert good_conduct.department.name.get("en") == "Directorate of Criminal Investigations"
    assert client.get_service("dl_renewal").fee_for({"period": "3y"}) == 3050
    assert [s.code for s in client.list_services(department="BRS")] == [
        "business_name_search",
        "business_name_registration",
    ]
    with pytest.raises(NotFound):
        client.get_service("nope")


def test_apply_pay_track_and_feedback(client):
    _register(client)
    first = client.create_application(
        phone=PHONE, pin=PIN, service_code="good_conduct", answers=ANSWERS, idempotency_key="hop-confirm-1"
    )
    again = client.create_application(
        phone=PHONE, pin=PIN, service_code="good_conduct", answers=ANSWERS, idempotency_key="hop-confirm-1"
    )
    assert first.reference == again.reference
    assert re.match(r"^ECZ-[2-9A-HJKMNP-Z]{6}$", first.reference)
    second = client.create_application(phone=PHONE, pin=PIN, service_code="passport", answers={
        "pages": "50", "place_of_birth": "Kisumu", "collection_centre": "kisumu"})  # fmt: skip
    assert second.fee_kes == 9750

    page = client.list_applications(PHONE)
    assert [a.reference for a in page.applications] == [second.reference, first.reference]
    assert page.total == 2

    payment = client.start_payment(first.reference, phone=PHONE)
    assert payment.status == "pending" and payment.amount_kes == 1050
    assert wait_until(lambda: client.get_payment(payment.id).status == "paid")
    tracked = client.get_application(first.reference.lower(), phone=PHONE)
    assert tracked.payment_status == "paid"
    assert tracked.latest_payment is not None and tracked.latest_payment.mpesa_receipt
    assert [h.status for h in tracked.history] == ["submitted"]
    with pytest.raises(Conflict) as paid_twice:
        client.start_payment(first.reference, phone=PHONE)
    assert paid_twice.value.code == "already_paid"

    feedback = client.submit_feedback(
        phone=PHONE, rating=5, comment="Asante", application_reference=first.reference
    )
    assert feedback.service_code == "good_conduct"
    with pytest.raises(InvalidRequest):
        client.submit_feedback(phone=PHONE, rating=9, service_code="passport")
    with pytest.raises(NotFound):
        client.get_application("ECZ-222222", phone=PHONE)


def test_someone_elses_application_is_not_found(client):
    _register(client)
    mine = client.create_application(phone=PHONE, pin=PIN, service_code="good_conduct", answers=ANSWERS)
    stranger = "+254722000999"
    _register(client, stranger)
    with pytest.raises(NotFound) as foreign:
        client.get_application(mine.reference, phone=stranger)
    with pytest.raises(NotFound) as unknown:
        client.get_application("ECZ-222222", phone=stranger)
    assert (foreign.value.code, foreign.value.message) == (unknown.value.code, unknown.value.message)
    with pytest.raises(NotFound):
        client.start_payment(mine.reference, phone=stranger)
    assert client.get_application(mine.reference, phone=PHONE).payment_status == "unpaid"


def test_wrong_pin_on_apply(client):
    _register(client)
    with pytest.raises(WrongPin):
        client.create_application(phone=PHONE, pin="1111", service_code="good_conduct", answers=ANSWERS)


class Stub:
    """A misbehaving core service: counts requests, fails the first `failures` of them with 503,
    or sleeps `delay` seconds before answering."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.failures = failures
        self.delay = delay
        # A slow answer holds until the test has seen what it wanted (or `delay` passes).
        self.release = threading.Event()
        self.calls: list[tuple[str, str, str | None]] = []
        self.lock = threading.Lock()
        self.app = Flask("stub")
        self.app.add_url_rule("/<path:path>", view_func=self.handle, methods=["GET", "POST"])

    def handle(self, path: str):
        with self.lock:
            self.calls.append((request.method, path, request.headers.get("Idempotency-Key")))
            failing = len(self.calls) <= self.failures
        if self.delay:
            self.release.wait(self.delay)
        if failing:
            return jsonify(error="unavailable", message="try later"), 503
        if path == "services":
            return jsonify(services=[])
        if path == "feedback":
            body = {
                "id": 1,
                "rating": 5,
                "service_code": "passport",
                "created_at": "2025-01-01T00:00:00+00:00",
            }
            return jsonify(body), 201
        return jsonify(error="not_found", message="no"), 404


def test_a_slow_server_fails_within_the_budget():
    stub = Stub(delay=1.0)
    with WsgiThread(stub.app) as server, CoreClient(server.url) as client:
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as error:
            client.list_services(budget=Budget(0.3))
        elapsed = time.monotonic() - started
        stub.release.set()
    assert elapsed < 0.8  # the server would take 1 s; the budget is 0.3 s (slack for a busy machine)
    assert error.value.code in {"timeout", "budget_exhausted"}


def test_no_budget_left_fails_fast_without_a_request():
    stub = Stub()
    with WsgiThread(stub.app) as server, CoreClient(server.url) as client, pytest.raises(BudgetExhausted):
        client.list_services(budget=Budget(0))
    assert stub.calls == []


def test_reads_are_retried():
    stub = Stub(failures=2)
    with WsgiThread(stub.app) as server, CoreClient(server.url, retry_backoff_s=0.01) as client:
        assert client.list_services() == []
    assert len(stub.calls) == 3


def test_keyed_writes_are_retried_with_the_same_key():
    stub = Stub(failures=1)
    with WsgiThread(stub.app) as server, CoreClient(server.url, retry_backoff_s=0.01) as client:
        client.submit_feedback(phone=PHONE, rating=5, service_code="passport")
    assert len(stub.calls) == 2
    keys = {key for _method, _path, key in stub.calls}
    assert len(keys) == 1 and None not in keys


def test_verify_pin_is_never_retried():
    stub = Stub(failures=1)
    with (
        WsgiThread(stub.app) as server,
        CoreClient(server.url, retry_backoff_s=0.01) as client,
        pytest.raises(BackendUnavailable) as error,
    ):
        client.verify_pin(PHONE, PIN)
    assert error.value.status == 503
    assert len(stub.calls) == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_then_half_opens_and_closes():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=30, clock=clock)
    port = free_port()  # nothing listens yet
    client = CoreClient(f"http://127.0.0.1:{port}", breaker=breaker, max_attempts=1)
    for _ in range(3):
        with pytest.raises(BackendUnavailable) as refused:
            client.list_services()
        assert refused.value.code == "connection_error"
    stub = Stub()
    with WsgiThread(stub.app, port=port):
        with pytest.raises(CircuitOpen):
            client.list_services()
        assert stub.calls == []  # open: nothing was sent
        clock.now += 30
        assert breaker.state == "half_open"
        assert client.list_services() == []  # the probe succeeds
        assert breaker.state == "closed"
    client.close()


def test_service_stopped_and_restarted(core):
    client = CoreClient(core.url, max_attempts=2, retry_backoff_s=0.01, breaker_threshold=100)
    _register(client)
    core.stop()
    with pytest.raises(BackendUnavailable):
        client.find_citizen(PHONE, budget=Budget(0.5))
    with pytest.raises(BackendUnavailable):
        client.create_application(
            phone=PHONE,
            pin=PIN,
            service_code="good_conduct",
            answers=ANSWERS,
            idempotency_key="queued-write-1",
        )
    core.start()  # same database, same port
    assert client.find_citizen(PHONE) is not None
    # the queued write, retried later with its key, lands once
    first = client.create_application(
        phone=PHONE, pin=PIN, service_code="good_conduct", answers=ANSWERS, idempotency_key="queued-write-1"
    )
    again = client.create_application(
        phone=PHONE, pin=PIN, service_code="good_conduct", answers=ANSWERS, idempotency_key="queued-write-1"
    )
    assert first.reference == again.reference
    assert client.list_applications(PHONE).total == 1
    client.close()
