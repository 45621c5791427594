"""What the SMS worker speaks to a provider: `SmsSender`, and the `SendOutcome` of each message.

A provider adapter (gateway/africastalking/sender.py is the first) implements `SmsSender`; the
worker and the outbox know nothing else about the provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class OutcomeKind(StrEnum):
    ACCEPTED = "accepted"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class SendOutcome:
    """What became of one message. `message_id` and `cost` (e.g. "KES 0.8000") are set when accepted."""

    kind: OutcomeKind
    message_id: str | None = None
    cost: str | None = None
    status_code: int | None = None
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.kind is OutcomeKind.ACCEPTED

    @property
    def retryable(self) -> bool:
        return self.kind is OutcomeKind.TRANSIENT


def transient(reason: str, status_code: int | None = None) -> SendOutcome:
    return SendOutcome(OutcomeKind.TRANSIENT, status_code=status_code, reason=reason)


def permanent(reason: str, status_code: int | None = None) -> SendOutcome:
    return SendOutcome(OutcomeKind.PERMANENT, status_code=status_code, reason=reason)


class SmsSender(Protocol):
    """Sends one SMS per call; safe to call from many threads at once."""

    def send(self, phone: str, body: str) -> SendOutcome:
        """Send `body` to `phone` (E.164). Never raises: every failure is a transient or permanent
        outcome with a `reason` fit for logs (no message text, phone numbers masked)."""
        ...
