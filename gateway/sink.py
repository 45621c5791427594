"""Where a hop's events go once it is answered: its audit event, and the effects its actions asked
for (an SMS to queue, an event to record). `create_app` builds one `HopEvents` and hands it to the
hop service; tests and tools may pass `NoEvents`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from audit.hops import HopAuditor
from audit.trail import AuditTrail
from common.logs import get_logger
from gateway.hop import Hop, HopReply
from menus.effects import Effect, ForgetCaller, RecordEvent, SendSms, SetLanguage

log = get_logger("gateway.sink")

# (stream key, approximate cap, flat fields): an event the session's save appends in its own script.
StreamEvent = tuple[str, int, Mapping[str, str]]


class SmsQueue(Protocol):
    def notify(self, sms: SendSms) -> bool: ...


class EventSink(Protocol):
    """What the hop service hands events to. No method may raise or block on more than one write."""

    def hop_event(self, hop: Hop, reply: HopReply, elapsed: float) -> StreamEvent | None:
        """The hop's audit event, to ride in the session's save; None when hops are not recorded."""
        ...

    def hop_answered(self, hop: Hop, reply: HopReply, elapsed: float) -> None:
        """Record a hop whose event did not ride in a save (a replay, a refusal, an error)."""
        ...

    def deliver(self, hop: Hop, effects: Sequence[Effect]) -> None:
        """Carry out what the hop's actions asked for, in order."""
        ...


class HopEvents:
    """The gateway's sink: hop events to the audit trail (when auditing is on), SMS to the outbox,
    recorded events to the trail."""

    def __init__(self, outbox: SmsQueue | None, trail: AuditTrail | None, auditor: HopAuditor | None) -> None:
        self.outbox = outbox
        self.trail = trail
        self.auditor = auditor

    def hop_event(self, hop: Hop, reply: HopReply, elapsed: float) -> StreamEvent | None:
        return self.auditor.stream_event(hop, reply, elapsed) if self.auditor is not None else None

    def hop_answered(self, hop: Hop, reply: HopReply, elapsed: float) -> None:
        if self.auditor is not None:
            self.auditor(hop, reply, elapsed)

    def deliver(self, hop: Hop, effects: Sequence[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, SendSms):
                if self.outbox is not None:
                    self.outbox.notify(effect)
                else:
                    log.warning("sms dropped: no outbox", template=effect.template)
            elif isinstance(effect, RecordEvent):
                if self.trail is not None:
                    self.trail.record(effect.kind, **effect.fields)
            elif not isinstance(effect, SetLanguage | ForgetCaller):
                # the session's save keeps the language and what is known about the caller
                log.error("effect nobody carries out", effect=type(effect).__name__, session=hop.session_id)


class NoEvents:
    """A sink that records nothing and drops every effect (tools, tests of the hop path alone)."""

    def hop_event(self, hop: Hop, reply: HopReply, elapsed: float) -> StreamEvent | None:
        return None

    def hop_answered(self, hop: Hop, reply: HopReply, elapsed: float) -> None:
        return None

    def deliver(self, hop: Hop, effects: Sequence[Effect]) -> None:
        return None
