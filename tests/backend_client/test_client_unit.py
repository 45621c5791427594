from __future__ import annotations

import pytest

from backend_client import (
    AccountLocked,
    BackendRejected,
    Budget,
    CircuitBreaker,
    Conflict,
    InvalidRequest,
    NotFound,
    WrongPin,
)
from backend_client.errors import rejection_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_budget_counts_down_and_caps_a_call():
    clock = FakeClock()
    budget = Budget(0.5, clock=clock)
    assert budget.timeout(2.0) == 0.5
    assert budget.timeout(0.2) == 0.2
    clock.now += 0.4
    assert budget.remaining() == pytest.approx(0.1)
    clock.now += 1
    assert budget.remaining() == 0.0 and budget.expired()
    assert Budget.until(clock.now + 3, clock=clock).remaining() == pytest.approx(3)


def test_breaker_opens_after_n_failures_and_half_opens_after_cool_down():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=10, clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 10
    assert breaker.state == "half_open"
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one probe at a time
    breaker.record_failure()  # probe failed: open for another cool-down
    assert breaker.state == "open"
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()


def test_success_resets_the_failure_count():
    breaker = CircuitBreaker(failure_threshold=2, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (404, {"error": "application_not_found", "message": "x"}, NotFound, "application_not_found"),
        (409, {"error": "already_registered", "field": "phone"}, Conflict, "already_registered"),
        (401, {"error": "wrong_pin", "message": "x", "attempts_left": 1}, WrongPin, "wrong_pin"),
        (423, {"error": "account_locked", "retry_after": 900}, AccountLocked, "account_locked"),
        (422, {"error": "invalid_field", "message": "x", "field": "county"}, InvalidRequest, "invalid_field"),
        (418, "<html>teapot</html>", BackendRejected, "http_418"),
    ],
)
def test_4xx_answers_map_to_the_hierarchy(status, body, kind, code):
    error = rejection_for(status, body)
    assert type(error) is kind
    assert (error.code, error.status) == (code, status)


def test_error_details_are_exposed():
    assert rejection_for(401, {"error": "wrong_pin", "attempts_left": 1}).attempts_left == 1
    assert rejection_for(423, {"error": "account_locked", "retry_after": 900}).retry_after == 900
    assert rejection_for(422, {"error": "invalid_field", "field": "county"}).field == "county"
    assert rejection_for(409, {"error": "already_registered", "field": "phone"}).details["field"] == "phone"
