"""Writing audit events: one `XADD` to a Redis stream, never SQL (the drainer moves them to SQL).

`create_app` builds one `AuditTrail` and hands it to whatever records events (the hop service's
event sink, the SMS outbox and worker, the console); `AuditTrail.record(kind, **fields)` and
`record_many` never raise into the caller.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from audit import metrics
from audit.pseudonym import Pseudonymiser
from common.logs import get_logger

log = get_logger("audit")

STREAM = "audit:events"
GROUP = "audit-drainers"
HEAD = "audit:head"  # "seq:hash" of the newest record in SQL, written by the drainer
DRAIN_LOCK = "audit:drain:lock"

EVENT_KINDS = ("hop", "sms", "backend", "operator", "feedback")
# Values under these names could identify or harm a citizen: they are dropped, never stored.
FORBIDDEN_FIELDS = frozenset(
    {"pin", "new_pin", "national_id", "id_number", "text", "input", "body", "message", "transcript"}
)


class AuditTrail:
    """Appends events to the `audit:events` stream, capped at about `maxlen` entries."""

    def __init__(self, client: redis.Redis, pseudonyms: Pseudonymiser, maxlen: int = 1_000_000) -> None:
        self.redis = client
        self.pseudonyms = pseudonyms
        self.maxlen = maxlen

    def add(self, event: dict[str, str]) -> str | None:
        """XADD one flat event; the stream entry id, or None (counted) when Redis is unavailable."""
        try:
            entry_id = self.redis.xadd(STREAM, event, maxlen=self.maxlen, approximate=True)
        except redis.RedisError:
            metrics.AUDIT_WRITE_FAILURES.labels("stream").inc()
            return None
        return entry_id.decode() if isinstance(entry_id, bytes) else entry_id

    def record_many(self, kind: str, items: list[dict[str, Any]]) -> int:
        """`record` for a batch, in one round trip; how many went in. Never raises."""
        if not items:
            return 0
        try:
            pipe = self.redis.pipeline(transaction=False)
            for fields in items:
                _count(kind, fields)
                pipe.xadd(STREAM, self.event(kind, dict(fields)), maxlen=self.maxlen, approximate=True)
            return sum(
                1 for result in pipe.execute(raise_on_error=False) if not isinstance(result, Exception)
            )
        except redis.RedisError:
            metrics.AUDIT_WRITE_FAILURES.labels("stream").inc()
            return 0
        except Exception:  # auditing must never break the caller's work
            metrics.AUDIT_WRITE_FAILURES.labels("stream").inc()
            log.exception("audit record failed", kind=kind)
            return 0

    def add_to(self, pipe: redis.client.Pipeline, kind: str, **fields: Any) -> None:
        """Queue `record(kind, **fields)`'s XADD on `pipe`, to go with the caller's own commands in
        one round trip (the caller's failure to run `pipe` is the event's: count it with
        `failed()`). Never raises."""
        try:
            pipe.xadd(STREAM, self.event(kind, fields), maxlen=self.maxlen, approximate=True)
            _count(kind, fields)
        except Exception:  # auditing must never break the caller's work
            metrics.AUDIT_WRITE_FAILURES.labels("stream").inc()
            log.exception("audit record failed", kind=kind)

    @staticmethod
    def failed(count: int = 1) -> None:
        """Count events queued with `add_to` that did not reach the stream."""
        metrics.AUDIT_WRITE_FAILURES.labels("stream").inc(count)

    def record(self, kind: str, **fields: Any) -> str | None:
        """Append one event; the stream entry id, or None if it was not recorded. Never raises.

        `kind` is one of EVENT_KINDS. Pass ids, statuses and figures as keyword arguments; a `phone`
        is replaced by its keyed pseudonym (`phone_hash`); PINs, ID numbers and message bodies are
        dropped. `at` (milliseconds since the epoch) defaults to now.
        """
        try:
            event = self.event(kind, fields)
            _count(kind, fields)
        except Exception:  # auditing must never break the caller's work
            metrics.AUDIT_WRITE_FAILURES.labels("stream").inc()
            log.exception("audit record failed", kind=kind)
            return None
        return self.add(event)

    def event(self, kind: str, fields: dict[str, Any]) -> dict[str, str]:
        """The flat, privacy-safe form of an event as it goes into the stream."""
        event = {"kind": kind, "at": str(fields.pop("at", None) or _now_ms())}
        phone = fields.pop("phone", None)
        if phone:
            event["phone_hash"] = self.pseudonyms.of(str(phone))
        for name, value in fields.items():
            if value is None or name in FORBIDDEN_FIELDS:
                continue
            if isinstance(value, bool):
                event[name] = "1" if value else "0"
            elif isinstance(value, str | int | float):
                event[name] = str(value)
            else:  # small structures only; callers pass ids and figures, not objects
                event[name] = json.dumps(value, sort_keys=True, default=str)[:2000]
        return event


def _now_ms() -> int:
    return int(time.time() * 1000)


def _count(kind: str, fields: dict[str, Any]) -> None:
    """The alert-worthy figures also go to Prometheus as they are recorded."""
    if kind == "sms" and fields.get("status") in ("failed", "rejected"):
        metrics.SMS_FAILURES.labels(str(fields.get("reason") or fields.get("status"))).inc()
