"""The internal shape of one USSD request, whatever aggregator sent it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hop:
    """One key press (or the dial) of one session, normalised by an adapter.

    `text` is the whole transcript of keys the aggregator says the citizen typed this session,
    `*`-joined (empty on the first hop unless the citizen dialled straight into a menu).
    """

    session_id: str
    phone: str  # E.164
    service_code: str
    network: str
    text: str
    aggregator: str = "africastalking"


@dataclass(frozen=True)
class HopReply:
    """The screen to send back and what happened, for metrics and the audit trail."""

    body: str
    final: bool
    outcome: str
    node: str | None = None
    language: str | None = None
    # Which tree version answered, for the audit trail and analytics per version.
    tree_id: str | None = None
    tree_version: str | None = None
    # True when the hop's audit event already travelled with the session's save.
    audited: bool = False
