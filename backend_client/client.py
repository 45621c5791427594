"""CoreClient: the only road from the gateway to the core service."""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import certifi
import orjson
import urllib3
from pydantic import BaseModel, ValidationError
from requests.utils import get_auth_from_url, get_environ_proxies, prepend_scheme_if_needed, select_proxy
from urllib3.exceptions import HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as HTTPTimeoutError

from backend_client.breaker import CircuitBreaker
from backend_client.budget import Budget
from backend_client.errors import (
    BackendError,
    BackendRejected,
    BackendUnavailable,
    BudgetExhausted,
    CircuitOpen,
    NotFound,
    rejection_for,
)
from backend_client.models import Application, ApplicationPage, Citizen, Feedback, Payment, Person, Service

# Ids in paths become ":id" so metric labels stay few: /applications/ECZ-7K3Q9P -> /applications/:id
_ROUTE_ID = re.compile(r"^/(applications|payments|services)/[^/]+")

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

DEFAULT_URL = "http://127.0.0.1:8010"
# below this a call cannot even connect; failing fast is more honest than a doomed attempt
MIN_CALL_S = 0.005
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})


# (operation, seconds, ok, error code, is a write) after every call; a refusal counts as ok.
CallObserver = Callable[[str, float, bool, str | None, bool], None]


def _no_observer(_operation: str, _seconds: float, _ok: bool, _error: str | None, _write: bool) -> None:
    return None


def new_idempotency_key() -> str:
    """A fresh key for one write. Keep it with a queued write so its retries reuse it."""
    return uuid.uuid4().hex


class CoreClient:
    """Typed calls to the core service, each inside a time budget.

    - `budget`: every method takes one (the hop's); a call waits at most min(budget left,
      `per_call_timeout_s`) per attempt and raises BudgetExhausted without sending when none is left.
      Without one, a fresh `Budget(default_budget_s)` is used.
    - Retries (up to `max_attempts`, backoff from `retry_backoff_s`) only for reads and for writes
      that carry an idempotency key, and only on connection errors, timeouts and 5xx. Every write
      except verify_pin sends a key (the caller's, else a new one); verify_pin is never retried,
      because a repeat could count as a second wrong PIN.
    - One circuit breaker per client: `breaker_threshold` consecutive failures open it for
      `breaker_reset_s`; then one probe decides.
    - Raises only BackendError subclasses (see backend_client.errors).
    - `observe(operation, seconds, ok, error, write)` is called after every call (e.g. "GET
      /applications/:id"; a refusal such as a wrong PIN counts as ok with its code as `error`). It
      must be quick and never raise; `create_app` passes one that feeds metrics and the audit trail.

    - Transport: urllib3, one pool of kept-alive connections to the core (`pool_size`, more are
      opened and closed when busier). The proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) and
      the CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, else certifi's) are read from the
      environment once, here, for the core's URL; HTTPS certificates are always verified.
      Redirects are not followed: a 3xx is a bad answer (BackendUnavailable, code "bad_response").

    Thread-safe: share one instance per process (it pools connections).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        per_call_timeout_s: float = 2.0,
        default_budget_s: float = 5.0,
        max_attempts: int = 3,
        retry_backoff_s: float = 0.05,
        breaker: CircuitBreaker | None = None,
        breaker_threshold: int = 5,
        breaker_reset_s: float = 10.0,
        pool_size: int = 20,
        observe: CallObserver | None = None,
    ) -> None:
        self.base_url = (base_url or os.environ.get("CORE_URL") or DEFAULT_URL).rstrip("/")
        self.per_call_timeout_s = per_call_timeout_s
        self.default_budget_s = default_budget_s
        self.max_attempts = max(1, max_attempts)
        self.retry_backoff_s = retry_backoff_s
        self.breaker = breaker or CircuitBreaker(breaker_threshold, breaker_reset_s)
        self.observe = observe or _no_observer
        # proxy and CA bundle read once, like every other setting (reading them per call cost ≈ 0.4 ms)
        self._http = _pool_manager(self.base_url, pool_size)
        # Calls go to the core's pool itself: the manager would parse and look up the URL each time.
        self._pool = self._http.connection_from_url(self.base_url)
        core = urlsplit(self.base_url)
        # a plain-HTTP proxy is sent the whole URL; a direct or tunnelled connection only the path
        forwarded = isinstance(self._http, urllib3.ProxyManager) and core.scheme == "http"
        self._target = self.base_url if forwarded else core.path
        self._headers = {"Accept": "application/json", "User-Agent": "ussd-gateway-backend-client"}
        self._json_headers = self._headers | {"Content-Type": "application/json"}

    def close(self) -> None:
        """Close the pooled connections; a later call opens new ones."""
        self._http.clear()
        self._pool = self._http.connection_from_url(self.base_url)

    def __enter__(self) -> CoreClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- citizens -------------------------------------------------------------------------------

    def register_citizen(
        self,
        *,
        national_id: str,
        first_name: str,
        last_name: str,
        date_of_birth: date,
        phone: str,
        pin: str,
        idempotency_key: str | None = None,
        budget: Budget | None = None,
    ) -> Citizen:
        """Register a citizen whose ID, names and date of birth match the population register.
        IdentityMismatch when they do not; Conflict('already_registered', details['field'] =
        'phone' or 'national_id'); InvalidRequest for a bad field."""
        body = {
            "national_id": national_id,
            "first_name": first_name,
            "last_name": last_name,
            "date_of_birth": date_of_birth.isoformat(),
            "phone": phone,
            "pin": pin,
        }
        data = self._write("POST", "/citizens", body, idempotency_key, budget)
        return _parse(Citizen, data)

    def verify_pin(self, phone: str, pin: str, *, budget: Budget | None = None) -> Citizen:
        """The citizen if the PIN is right. WrongPin (.attempts_left), AccountLocked (.retry_after),
        NotFound for an unknown phone. Never retried."""
        data = self._request(
            "POST", "/citizens/verify-pin", body={"phone": phone, "pin": pin}, budget=budget, retry=False
        )
        return _parse(Citizen, data["citizen"] if isinstance(data, dict) else data)

    def find_citizen(self, phone: str, *, budget: Budget | None = None) -> Citizen | None:
        """The citizen registered with `phone`, or None."""
        try:
            data = self._request("GET", "/citizens", params={"phone": phone}, budget=budget, retry=True)
        except NotFound:
            return None
        return _parse(Citizen, data)

    # ---- catalogue ------------------------------------------------------------------------------

    def list_services(self, *, department: str | None = None, budget: Budget | None = None) -> list[Service]:
        """The catalogue (optionally one department's services), in catalogue order."""
        params = {"department": department} if department else None
        data = self._request("GET", "/services", params=params, budget=budget, retry=True)
        return [_parse(Service, item) for item in _items(data, "services")]

    def get_service(self, code: str, *, budget: Budget | None = None) -> Service:
        """One service; NotFound('service_not_found')."""
        data = self._request("GET", f"/services/{_segment(code)}", budget=budget, retry=True)
        return _parse(Service, data)

    # ---- applications ---------------------------------------------------------------------------

    def create_application(
        self,
        *,
        phone: str,
        pin: str,
        service_code: str,
        answers: dict[str, str],
        idempotency_key: str | None = None,
        budget: Budget | None = None,
    ) -> Application:
        """Submit an application; the same `idempotency_key` always yields the same application.

        Pass the key you will reuse if this raises BackendUnavailable and the write is queued.
        WrongPin / AccountLocked / NotFound / InvalidRequest('invalid_field', .field) /
        Conflict('idempotency_key_reused') on refusal.
        """
        body = {"phone": phone, "pin": pin, "service_code": service_code, "answers": answers}
        data = self._write("POST", "/applications", body, idempotency_key, budget)
        return _parse(Application, data)

    def list_applications(
        self, phone: str, *, limit: int = 20, offset: int = 0, budget: Budget | None = None
    ) -> ApplicationPage:
        """A page of the citizen's applications, newest first; NotFound('citizen_not_found')."""
        params = {"phone": phone, "limit": limit, "offset": offset}
        data = self._request("GET", "/applications", params=params, budget=budget, retry=True)
        return _parse(ApplicationPage, data)

    def get_application(self, reference: str, *, phone: str, budget: Budget | None = None) -> Application:
        """One application of the citizen of `phone`, with its status history and latest payment.
        The reference may be typed loosely ('ecz7k3q9p'). NotFound('application_not_found') both
        when there is no such application and when it belongs to someone else."""
        data = self._request(
            "GET",
            f"/applications/{_segment(reference)}",
            params={"phone": phone},
            budget=budget,
            retry=True,
        )
        return _parse(Application, data)

    # ---- payments -------------------------------------------------------------------------------

    def start_payment(
        self,
        reference: str,
        *,
        phone: str,
        idempotency_key: str | None = None,
        budget: Budget | None = None,
    ) -> Payment:
        """Start an M-Pesa STK push for the fee of an application of the citizen of `phone`, to that
        phone. Returns the `pending` payment (the one already pending, if any).
        Conflict('already_paid' or 'no_fee_due'); NotFound, also for someone else's application."""
        data = self._write(
            "POST", f"/applications/{_segment(reference)}/payments", {"phone": phone}, idempotency_key, budget
        )
        return _parse(Payment, data)

    def get_payment(self, payment_id: str, *, budget: Budget | None = None) -> Payment:
        """A payment's current state: pending, then paid or failed."""
        data = self._request("GET", f"/payments/{_segment(payment_id)}", budget=budget, retry=True)
        return _parse(Payment, data)

    # ---- feedback -------------------------------------------------------------------------------

    def submit_feedback(
        self,
        *,
        phone: str,
        rating: int,
        comment: str | None = None,
        application_reference: str | None = None,
        service_code: str | None = None,
        idempotency_key: str | None = None,
        budget: Budget | None = None,
    ) -> Feedback:
        """Record a 1-5 rating with an optional comment (<= 140 chars) about exactly one of an
        application (of this phone's citizen) or a service."""
        body: dict[str, Any] = {"phone": phone, "rating": rating}
        if comment:
            body["comment"] = comment
        if application_reference is not None:
            body["application_reference"] = application_reference
        if service_code is not None:
            body["service_code"] = service_code
        data = self._write("POST", "/feedback", body, idempotency_key, budget)
        return _parse(Feedback, data)

    # ---- health ---------------------------------------------------------------------------------

    def health(self, *, budget: Budget | None = None) -> bool:
        """True if the core service answers its health check; never raises."""
        try:
            self._request("GET", "/health", budget=budget or Budget(1.0), retry=False)
        except BackendError:
            return False
        return True

    # ---- development ----------------------------------------------------------------------------

    def dev_people(
        self, n: int = 1, *, unregistered: bool = True, budget: Budget | None = None
    ) -> list[Person]:
        """Up to `n` (1-100) people from the core's population register, by default only ones not
        registered yet: for simulators and test tools. Development only: NotFound in production."""
        params = {"n": n, "unregistered": int(unregistered)}
        data = self._request("GET", "/dev/people", params=params, budget=budget, retry=True)
        if not isinstance(data, list):
            raise BackendUnavailable("answer is not a list of people", code="bad_response")
        return [_parse(Person, item) for item in data]

    # ---- transport ------------------------------------------------------------------------------

    def _write(
        self, method: str, path: str, body: dict[str, Any], idempotency_key: str | None, budget: Budget | None
    ) -> Any:
        headers = {"Idempotency-Key": idempotency_key or new_idempotency_key()}
        return self._request(method, path, body=body, headers=headers, budget=budget, retry=True)

    def _request(
        self,
        method: str,
        path: str,
        *,
        budget: Budget | None,
        retry: bool,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """`_call`, timed and reported to `observe`."""
        route = _ROUTE_ID.sub(r"/\1/:id", path)
        operation = f"{method} {route}"
        started = time.perf_counter()
        try:
            answer = self._call(
                method, path, budget=budget, retry=retry, body=body, params=params, headers=headers
            )
        except BackendError as exc:
            # A refusal (wrong PIN, not found) is an answer, not a fault of the core service.
            ok = isinstance(exc, BackendRejected)
            self.observe(operation, time.perf_counter() - started, ok, exc.code, method != "GET")
            raise
        self.observe(operation, time.perf_counter() - started, True, None, method != "GET")
        return answer

    def _call(
        self,
        method: str,
        path: str,
        *,
        budget: Budget | None,
        retry: bool,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        budget = budget or Budget(self.default_budget_s)
        url = f"{self._target}{path}?{urlencode(params)}" if params else self._target + path
        payload, request_headers = self._encode(method, path, body, headers)
        attempts = self.max_attempts if retry else 1
        failure: BackendUnavailable | None = None
        for attempt in range(1, attempts + 1):
            timeout = budget.timeout(self.per_call_timeout_s)
            if timeout < MIN_CALL_S:
                message = f"{method} {path}: no time left in the budget"
                if failure is not None:
                    message += f" after {attempt - 1} attempt(s): {failure.message}"
                raise BudgetExhausted(message, code="budget_exhausted") from None
            if not self.breaker.allow():
                raise CircuitOpen(f"{method} {path}: circuit open", retry_after=self.breaker.retry_after())
            failure = self._attempt(method, path, url, timeout, payload, request_headers)
            if not isinstance(failure, BackendUnavailable):
                return failure  # the parsed body
            if attempt < attempts:
                log.warning("core service %s %s failed (%s), attempt %d", method, path, failure.code, attempt)
                time.sleep(min(self.retry_backoff_s * 2 ** (attempt - 1), budget.remaining()))
        assert failure is not None
        raise failure

    def _encode(
        self, method: str, path: str, body: Any, headers: dict[str, str] | None
    ) -> tuple[bytes | None, dict[str, str]]:
        """The request's body as JSON bytes (once, for every attempt) and its headers."""
        if body is None:
            return None, self._headers | headers if headers else self._headers
        try:
            payload = orjson.dumps(body)
        except orjson.JSONEncodeError as exc:
            raise BackendError(f"{method} {path}: body is not JSON: {exc}", code="client_error") from None
        return payload, self._json_headers | headers if headers else self._json_headers

    def _attempt(
        self,
        method: str,
        path: str,
        url: str,
        timeout: float,
        payload: bytes | None,
        headers: dict[str, str],
    ) -> Any:
        """One HTTP exchange: the parsed body, a BackendUnavailable to maybe retry, or a raised
        BackendRejected. Feeds the breaker."""
        try:
            response = self._pool.urlopen(
                method,
                url,
                body=payload,
                headers=headers,
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
                redirect=False,
                assert_same_host=False,  # through a plain-HTTP proxy the URL names the core, not the proxy
            )
        except NewConnectionError as exc:  # urllib3 files it under timeouts; it is a refused connection
            self.breaker.record_failure()
            return BackendUnavailable(f"{method} {path}: {type(exc).__name__}", code="connection_error")
        except (HTTPTimeoutError, TimeoutError):
            self.breaker.record_failure()
            return BackendUnavailable(f"{method} {path}: timed out after {timeout:.3f}s", code="timeout")
        except (HTTPError, OSError) as exc:
            self.breaker.record_failure()
            return BackendUnavailable(f"{method} {path}: {type(exc).__name__}", code="connection_error")
        except Exception as exc:  # whatever else the transport raises: still never a raw exception
            self.breaker.release()
            raise BackendError(f"{method} {path}: {type(exc).__name__}: {exc}", code="client_error") from None
        status = response.status
        if status >= 500:
            self.breaker.record_failure()
            failure = BackendUnavailable(
                f"{method} {path}: HTTP {status}", code=f"http_{status}", status=status
            )
            if status not in RETRYABLE_STATUSES:
                raise failure
            return failure
        self.breaker.record_success()
        if 300 <= status < 400:
            # Following it could send a PIN to wherever the answer points.
            message = f"{method} {path}: HTTP {status}, redirects are not followed"
            raise BackendUnavailable(message, code="bad_response", status=status)
        try:
            answer = orjson.loads(response.data)
        except orjson.JSONDecodeError:
            answer = None
        if status >= 400:
            raise rejection_for(status, answer)
        if answer is None:
            raise BackendUnavailable(
                f"{method} {path}: answer is not JSON", code="bad_response", status=status
            )
        return answer


def _pool_manager(base_url: str, pool_size: int) -> urllib3.PoolManager:
    """Connections to the core through the proxy the environment names for `base_url` now (by
    requests' rules: NO_PROXY by host, domain, port or CIDR block), verifying HTTPS certificates
    against REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, else certifi's bundle. A SOCKS proxy raises
    urllib3's ProxySchemeUnknown: PySocks is not installed, and every call would fail."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    trust = {"ca_cert_dir": bundle} if os.path.isdir(bundle) else {"ca_certs": bundle}
    # no urllib3 retries: retrying is decided in _call, where idempotency is known
    settings: dict[str, Any] = {
        "num_pools": 2,
        "maxsize": pool_size,
        "block": False,
        "retries": urllib3.Retry(total=False),
        "cert_reqs": "CERT_REQUIRED",
        **trust,
    }
    proxy = select_proxy(base_url, get_environ_proxies(base_url))
    if not proxy:
        return urllib3.PoolManager(**settings)
    proxy = prepend_scheme_if_needed(proxy, "http")
    user, password = get_auth_from_url(proxy)
    proxy_headers = urllib3.make_headers(proxy_basic_auth=f"{user}:{password}") if user else None
    return urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, **settings)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _items(data: Any, key: str) -> list[Any]:
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise BackendUnavailable(f"answer has no '{key}' list", code="bad_response")
    return data[key]


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BackendUnavailable(
            f"answer does not match {model.__name__}: {exc.error_count()} problem(s)", code="bad_response"
        ) from None
