"""The hop listener: one audit event per answered hop, one XADD, no SQL.

It records what happened (tree version, node, language, outcome — which says the kind of input:
option, input, invalid, back, home, more…), never what was typed: the transcript is not read.
"""

from __future__ import annotations

from typing import Protocol

from audit import metrics
from audit.trail import STREAM, AuditTrail
from common.outcomes import HopOutcome
from menus.registry import TreeRegistry


class HopLike(Protocol):
    session_id: str
    phone: str
    service_code: str
    network: str


class HopReplyLike(Protocol):
    final: bool
    outcome: HopOutcome
    node: str | None
    language: str | None
    tree_id: str | None
    tree_version: str | None


class HopAuditor:
    """The hop recorder of the hop service's event sink (built by `create_app` when AUDIT_ENABLED=1):
    `stream_event` hands a hop's event to the session's commit script; calling it records a hop
    that saved nothing (a replay, a refusal, an error) with its own XADD after the reply."""

    def __init__(self, trail: AuditTrail, trees: TreeRegistry) -> None:
        self.trail = trail
        self.trees = trees

    def __call__(self, hop: HopLike, reply: HopReplyLike, elapsed: float) -> None:
        """Append the hop's event; never raises (a failure is counted, the hop goes on)."""
        try:
            self.trail.add(self.event(hop, reply, elapsed))
        except Exception:
            metrics.AUDIT_WRITE_FAILURES.labels("listener").inc()

    def stream_event(
        self, hop: HopLike, reply: HopReplyLike, elapsed: float
    ) -> tuple[str, int, dict[str, str]] | None:
        """(stream, cap, fields) for the session's commit script to XADD; None (counted) when the
        event cannot be built. Never raises."""
        try:
            return STREAM, self.trail.maxlen, self.event(hop, reply, elapsed)
        except Exception:
            metrics.AUDIT_WRITE_FAILURES.labels("listener").inc()
            return None

    def event(self, hop: HopLike, reply: HopReplyLike, elapsed: float) -> dict[str, str]:
        """The hop's event in its compact stream form: `kind` plus one packed field (`HOP_FIELDS`
        joined by a unit separator). Its time is the stream entry's own; the drainer unpacks."""
        tree_id = reply.tree_id or ""
        version = reply.tree_version or ""
        journey = ""
        if tree_id and version and reply.node:
            tree = self.trees.version(tree_id, version)
            node = tree.nodes.get(reply.node) if tree else None
            journey = (node.journey or "") if node is not None else ""
        values = (
            hop.session_id,
            self.trail.pseudonyms.of(hop.phone),
            hop.service_code,
            hop.network,
            tree_id,
            version,
            reply.node or "",
            reply.language or "",
            reply.outcome,
            "1" if reply.final else "0",
            journey,
            f"{elapsed * 1000:.3f}",
        )
        return {"kind": "hop", PACKED: SEPARATOR.join(v.replace(SEPARATOR, " ") for v in values)}


# One stream field instead of twelve: fewer arguments to pack and for the commit script to XADD.
PACKED = "h"
SEPARATOR = "\x1f"
HOP_FIELDS = (
    "session_id",
    "phone_hash",
    "service_code",
    "network",
    "tree_id",
    "tree_version",
    "node",
    "language",
    "outcome",
    "final",
    "journey",
    "latency_ms",
)


def unpack(fields: dict[str, str]) -> dict[str, str]:
    """A stream event with its packed hop field spread back into named fields (empty ones left out)."""
    if PACKED not in fields:
        return fields
    spread = {k: v for k, v in fields.items() if k != PACKED}
    for name, value in zip(HOP_FIELDS, fields[PACKED].split(SEPARATOR), strict=False):
        if value:
            spread[name] = value
    return spread
