"""The hop listener: one audit event per answered hop, one XADD, no SQL.

It records what happened (tree version, node, language, outcome — which says the kind of input:
option, input, invalid, back, home, more…), never what was typed: the transcript is not read.
"""

from __future__ import annotations

import time
from typing import Protocol

from audit import metrics
from audit.trail import STREAM, AuditTrail
from menus.registry import TreeRegistry


class HopLike(Protocol):
    session_id: str
    phone: str
    service_code: str
    network: str


class HopReplyLike(Protocol):
    final: bool
    outcome: str
    node: str | None
    language: str | None


class HopAuditor:
    """`HopService.auditor` (set by `create_app` when AUDIT_ENABLED=1): `stream_event` hands a hop's
    event to the session's commit script; calling it records a hop that saved nothing (a replay, a
    refusal, an error) with its own XADD after the reply."""

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
        event = {
            "kind": "hop",
            "at": str(int(time.time() * 1000)),
            "session_id": hop.session_id,
            "phone_hash": self.trail.pseudonyms.of(hop.phone),
            "service_code": hop.service_code,
            "network": hop.network,
            "outcome": reply.outcome,
            "final": "1" if reply.final else "0",
            "latency_ms": f"{elapsed * 1000:.3f}",
        }
        tree_id = getattr(reply, "tree_id", None)
        version = getattr(reply, "tree_version", None)
        if tree_id and version:
            event["tree_id"], event["tree_version"] = tree_id, version
            tree = self.trees.version(tree_id, version)
            node = tree.nodes.get(reply.node) if tree and reply.node else None
            if node is not None and node.journey:
                event["journey"] = node.journey
        if reply.node:
            event["node"] = reply.node
        if reply.language:
            event["language"] = reply.language
        return event
