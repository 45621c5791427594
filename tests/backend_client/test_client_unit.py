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


def test_the_environment_is_read_once_when_the_client_is_built(monkeypatch):
    """Proxy settings from the environment still apply (read at start, not on every call), and
    a variable set later does not reroute a running client's calls."""
    from backend_client import CoreClient
    from stand_ins.core_service.testing import WsgiThread

    asked: list[str] = []

    def proxy(environ, start_response):
        asked.append(environ.get("REQUEST_URI") or environ.get("RAW_URI") or environ["PATH_INFO"])
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"error": "citizen_not_found", "message": "none"}']

    with WsgiThread(proxy) as stand_in:
        monkeypatch.setenv("HTTP_PROXY", stand_in.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        client = CoreClient("http://core.invalid", max_attempts=1)
        assert client.session.trust_env is False
        assert client.find_citizen("+254711000001") is None  # answered through the proxy
        assert asked and "core.invalid" in asked[0]

        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
        assert client.find_citizen("+254711000002") is None and len(asked) == 2
        client.close()

        monkeypatch.setenv("NO_PROXY", "core.invalid")
        direct = CoreClient("http://core.invalid", max_attempts=1)
        assert direct.session.proxies.get("http") is None
        direct.close()
