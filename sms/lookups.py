"""What the SMS channel asks the core service: an application's status (for `STATUS <ref>`) and a
service's name (for webhook events that carry only its code).

`CoreLookup` is the interface; `BackendLookup` answers through `backend_client`'s `CoreClient`.
Tests use their own double. Every lookup raises only `LookupUnavailable` for "cannot tell now".
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from common.logs import get_logger

log = get_logger("sms.lookups")


class LookupUnavailable(Exception):
    """The core service cannot answer now; ask again later (the caller decides how)."""


@dataclass(frozen=True)
class ApplicationStatus:
    """`status_lookup(reference)`'s answer: the status code, the service's name (one string, or
    `{"en", "sw"}`), and the date of the last change."""

    reference: str
    status: str
    service: str | Mapping[str, str]
    date: dt.date


class CoreLookup(Protocol):
    def status_of(self, reference: str, phone: str) -> ApplicationStatus | None:
        """The status of the application if it is the citizen of `phone`'s; None when there is no
        such reference or it is someone else's (the two are told apart by no one); `LookupUnavailable`."""

    def service_name(self, code: str) -> Mapping[str, str] | None:
        """The service's name as `{"en", "sw"}`, None when unknown or the core cannot say now."""


def _local_text(value: Any) -> Mapping[str, str] | str | None:
    if value is None:
        return None
    if hasattr(value, "en") and hasattr(value, "sw"):
        return {"en": value.en, "sw": value.sw}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return str(value)


class BackendLookup:
    """Answers through a `backend_client.CoreClient` (duck-typed: `get_application(ref, phone=…,
    budget=…)` and `get_service(code, budget=…)`), each call inside `budget_s`. Service names are
    cached."""

    def __init__(self, client: Any, budget_s: float = 1.5) -> None:
        self.client = client
        self.budget_s = budget_s
        self._names: dict[str, Mapping[str, str]] = {}
        self._lock = threading.Lock()

    def _budget(self) -> Any:
        try:
            from backend_client.budget import Budget
        except ImportError:  # a test double needs none
            return None
        return Budget(self.budget_s)

    def status_of(self, reference: str, phone: str) -> ApplicationStatus | None:
        try:
            application = self.client.get_application(reference, phone=phone, budget=self._budget())
        except Exception as exc:
            if type(exc).__name__ == "NotFound":
                return None
            raise LookupUnavailable(type(exc).__name__) from None
        service = _local_text(getattr(application, "service_name", None))
        if service is None:
            service = self.service_name(application.service_code) or application.service_code
        changed = getattr(application, "updated_at", None) or getattr(application, "created_at", None)
        return ApplicationStatus(
            reference=application.reference,
            status=application.status,
            service=service,
            date=changed.date() if isinstance(changed, dt.datetime) else (changed or dt.date.today()),
        )

    def service_name(self, code: str) -> Mapping[str, str] | None:
        with self._lock:
            if code in self._names:
                return self._names[code]
        try:
            service = self.client.get_service(code, budget=self._budget())
        except Exception as exc:
            log.warning("service name lookup failed", code=code, error=type(exc).__name__)
            return None
        name = _local_text(getattr(service, "name", None))
        if not isinstance(name, Mapping):
            return None
        with self._lock:
            self._names[code] = name
        return name
