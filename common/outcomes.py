"""What one hop did, as the gateway counts it, the audit trail records it and analytics reads it.

`HopOutcome` values are the strings stored in the audit trail and used as metric labels, so a value
never changes once released: add members, do not rename them.
"""

from __future__ import annotations

from enum import StrEnum


class HopOutcome(StrEnum):
    """The outcome of one hop. The first seven come from the menu engine (what the key did)."""

    START = "start"
    OPTION = "option"
    INPUT = "input"
    INVALID = "invalid"
    BACK = "back"
    HOME = "home"
    MORE = "more"
    # Set by the hop service around the engine.
    RESUME_OFFER = "resume_offer"
    RESUMED = "resumed"
    REPLAY = "replay"
    RATE_LIMITED = "rate_limited"
    UNKNOWN_SERVICE = "unknown_service"
    BUSY = "busy"
    REDIS_DOWN = "redis_down"
    ERROR = "error"
    # A continuation for a session the gateway does not hold (per-hop aggregators): ended politely.
    EXPIRED = "expired"


# The gateway failed the hop: the citizen saw an apology, not a screen of the tree.
GATEWAY_FAULTS = frozenset({HopOutcome.ERROR, HopOutcome.BUSY, HopOutcome.REDIS_DOWN})
# Hops that are no step of a journey: a retried hop, a refused one, a code no tree serves, a
# continuation of a session the gateway no longer holds.
NOT_A_STEP = frozenset(
    {HopOutcome.REPLAY, HopOutcome.RATE_LIMITED, HopOutcome.UNKNOWN_SERVICE, HopOutcome.EXPIRED}
)
