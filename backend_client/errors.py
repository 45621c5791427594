"""What a backend call can raise. Every failure is a BackendError; a caller never sees an
exception of the HTTP library (urllib3).

    BackendError
    ├── BackendUnavailable        down, timed out, 5xx, garbled answer: apologise, or queue a write
    │   ├── BudgetExhausted       no time left in the hop's budget; nothing was sent
    │   └── CircuitOpen           the breaker is open; nothing was sent
    └── BackendRejected           a 4xx: the request was understood and refused (.code, .message)
        ├── InvalidRequest        400/422; .field names the bad field when known
        │   └── IdentityMismatch  422 identity_mismatch: registration details not in the register
        ├── NotFound              404
        ├── Conflict              409 (already_registered, illegal_transition, already_paid, ...)
        ├── WrongPin              401 wrong_pin; .attempts_left
        └── AccountLocked         423; .retry_after seconds
"""

from __future__ import annotations

from typing import Any


class BackendError(Exception):
    """Base of every error from backend_client."""

    def __init__(self, message: str, *, code: str = "backend_error", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class BackendUnavailable(BackendError):
    """The core service could not answer in time or at all. Safe to retry later; for a write, retry
    with the same idempotency key."""


class BudgetExhausted(BackendUnavailable):
    """The budget was spent before the call could start."""


class CircuitOpen(BackendUnavailable):
    """The circuit breaker is open; `retry_after` seconds until it lets a probe through."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, code="circuit_open")
        self.retry_after = retry_after


class BackendRejected(BackendError):
    """A 4xx answer: `code` is the API's error code (e.g. 'already_registered'), `message` a
    sentence for logs (not for a citizen's screen), `details` the rest of the error body."""

    def __init__(
        self, message: str, *, code: str, status: int, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.details = details or {}


class InvalidRequest(BackendRejected):
    @property
    def field(self) -> str | None:
        return self.details.get("field")


class IdentityMismatch(InvalidRequest):
    """Registration refused: the ID, names and date of birth do not match the population register
    (the answer never says which one is wrong)."""


class NotFound(BackendRejected):
    pass


class Conflict(BackendRejected):
    pass


class WrongPin(BackendRejected):
    @property
    def attempts_left(self) -> int:
        return int(self.details.get("attempts_left", 0))


class AccountLocked(BackendRejected):
    @property
    def retry_after(self) -> int:
        return int(self.details.get("retry_after", 0))


def rejection_for(status: int, body: Any) -> BackendRejected:
    """The exception for a 4xx answer with (ideally) a `{"error", "message"}` JSON body."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code = body["error"]
        message = str(body.get("message") or code)
        details = {k: v for k, v in body.items() if k not in ("error", "message")}
    else:
        code, message, details = f"http_{status}", f"HTTP {status}", {}
    kind: type[BackendRejected] = BackendRejected
    if status == 423 or code == "account_locked":
        kind = AccountLocked
    elif code == "identity_mismatch":
        kind = IdentityMismatch
    elif code == "wrong_pin":
        kind = WrongPin
    elif status == 404:
        kind = NotFound
    elif status == 409:
        kind = Conflict
    elif status in (400, 422):
        kind = InvalidRequest
    return kind(message, code=code, status=status, details=details)
