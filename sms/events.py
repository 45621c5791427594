"""Which SMS a core-service event asks for. Pure: the service-name lookup is passed in.

This module is the gateway's one reading of the core service's webhook contract (the schema is
`WebhookEvent` in backend_client/openapi.yaml; the reference core service sends exactly this, and
gateway/events.py checks the signature before anything here runs):

    POST /events/application-status
    X-Signature: sha256=<hex HMAC-SHA256 of the raw body with WEBHOOK_SECRET>
    {"event_id": "…", "type": "application.submitted" | "application.status_changed" | "payment.settled",
     "occurred_at": "…", "reference": "ECZ-7K3Q9P", "phone": "+2547…", "service_code": "…",
     "service_name": {"en": "…", "sw": "…"} (optional), "old_status": …, "new_status": "approved",
     "payment": {"status": "paid" | "failed", "amount_kes": 1050} (payment.settled)}

Needed: `event_id`, `type`, `reference`, `phone`; `new_status` for a status change; `payment.status`
and an amount for a payment. Accepted spellings are listed in `_FIELDS`; unknown fields are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sms.outbox import submitted_key

SUBMITTED = "application.submitted"
STATUS_CHANGED = "application.status_changed"
PAYMENT_SETTLED = "payment.settled"

# Field -> the names it may come under, first match wins (be liberal in what we accept).
_FIELDS: dict[str, tuple[str, ...]] = {
    "event_id": ("event_id", "eventId", "id"),
    "type": ("type", "event_type", "eventType", "event"),
    "reference": ("reference", "application_reference", "applicationReference", "ref"),
    "phone": ("phone", "phone_number", "phoneNumber", "msisdn", "citizen_phone"),
    "service_code": ("service_code", "serviceCode"),
    "service_name": ("service_name", "serviceName", "service"),
    "new_status": ("new_status", "newStatus", "status"),
}


class EventRefused(ValueError):
    """The event cannot be acted on; `reason` says what is missing or wrong (answered as 4xx)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Notification:
    """The SMS an event asks for, ready for `Outbox.enqueue`."""

    template: str
    phone: str
    params: dict[str, Any]
    dedupe_key: str


def _field(event: Mapping[str, Any], name: str) -> Any:
    for key in _FIELDS[name]:
        value = event.get(key)
        if value not in (None, ""):
            return value
    if name == "phone" and isinstance(event.get("citizen"), Mapping):
        return event["citizen"].get("phone")
    return None


def _text(event: Mapping[str, Any], name: str) -> str | None:
    """The field as stripped text; None when it is missing, blank or not a string or number."""
    value = _field(event, name)
    text = str(value).strip() if isinstance(value, str | int) else ""
    return text or None


def event_phone(event: object) -> str | None:
    """The phone number an event is about, as the core wrote it (not normalised); None without one."""
    return _text(event, "phone") if isinstance(event, Mapping) else None


def _required(event: Mapping[str, Any], name: str) -> str:
    text = _text(event, name)
    if text is None:
        raise EventRefused(f"missing {name}")
    return text


def _service(event: Mapping[str, Any], names: Callable[[str], Mapping[str, str] | None]) -> Any:
    name = _field(event, "service_name")
    if isinstance(name, Mapping) and isinstance(name.get("name"), Mapping | str):
        name = name["name"]  # {"service": {"code": …, "name": {…}}}
    if isinstance(name, Mapping | str) and name:
        return name
    code = str(_field(event, "service_code") or "").strip()
    return (names(code) if code else None) or code or "eCitizen"


def notification_for(
    event: Mapping[str, Any],
    service_names: Callable[[str], Mapping[str, str] | None],
    event_id: str | None = None,
    event_type: str | None = None,
) -> tuple[Notification | None, str]:
    """The SMS `event` asks for and a word on why; `(None, reason)` when it asks for none.
    `event_id`/`event_type` (e.g. from `X-Event-Id`/`X-Event-Type`) fill fields the body lacks.
    Raises `EventRefused` when a needed field is missing."""
    if not isinstance(event, Mapping):
        raise EventRefused("the body is not a JSON object")
    kind = str(_field(event, "type") or event_type or "").strip()
    if not kind:
        raise EventRefused("missing type")
    event_id = str(_field(event, "event_id") or event_id or "").strip()
    if not event_id:
        raise EventRefused("missing event_id")
    if kind not in (SUBMITTED, STATUS_CHANGED, PAYMENT_SETTLED):
        return None, f"type {kind} needs no SMS"
    reference = _required(event, "reference")
    phone = _required(event, "phone")
    if kind == SUBMITTED:
        params = {"reference": reference, "service": _service(event, service_names)}
        # One "your reference is …" SMS per application, whether the journey or the webhook asks first.
        return Notification("application_submitted", phone, params, submitted_key(reference)), "submitted"
    if kind == STATUS_CHANGED:
        status = _required(event, "new_status")
        params = {"reference": reference, "service": _service(event, service_names), "status": status}
        key = f"{event_id}:application_status_changed"
        return Notification("application_status_changed", phone, params, key), f"status {status}"
    payment = event.get("payment") if isinstance(event.get("payment"), Mapping) else {}
    outcome = str(payment.get("status") or event.get("payment_status") or "").strip().lower()
    amount = next(
        (
            v
            for v in (payment.get("amount_kes"), payment.get("amount"), event.get("amount_kes"))
            if v is not None
        ),
        None,
    )
    if outcome not in ("paid", "failed"):
        return None, f"payment {outcome or 'without status'} needs no SMS"
    if amount is None:
        raise EventRefused("missing payment.amount_kes")
    template = "payment_paid" if outcome == "paid" else "payment_failed"
    params = {"amount": amount, "reference": reference}
    return Notification(template, phone, params, f"{event_id}:{template}"), f"payment {outcome}"
