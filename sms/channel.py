"""The SMS channel as the gateway uses it: the outbox, the citizen's language, inbound commands and
core-service events. Built once per process by `create_app` and handed to the HTTP edge in
gateway/ (which also keeps it in `app.extensions["sms"]`); this module knows no Flask.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from audit.trail import AuditTrail
from common.db import Database
from common.logs import get_logger
from common.lookup_limits import LookupLimits
from common.phones import mask_phone
from config import Settings
from records.sms import SmsInbound, SmsOptOut, utcnow
from sessions.store import SessionStore
from sms.commands import parse_command
from sms.delivery import DeliveryReport, apply_report_on_server, record_report
from sms.events import notification_for
from sms.lookups import ApplicationStatus, CoreLookup, LookupUnavailable
from sms.outbox import Outbox, Queued

log = get_logger("sms.channel")


@dataclass(frozen=True)
class InboundSms:
    """An SMS a citizen sent, as Africa's Talking posts it; `phone` is already E.164."""

    provider_id: str
    phone: str
    text: str
    short_code: str | None = None
    link_id: str | None = None
    network_code: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class InboundResult:
    duplicate: bool
    command: str
    reply_id: int | None = None


@dataclass(frozen=True)
class EventResult:
    queued: Queued | None
    reason: str


@dataclass
class SmsChannel:
    """One per process. `trail` (None: not recorded) gets every status a delivery report moves;
    `limits` (None: none) bounds `STATUS` lookups like USSD Track's (common.lookup_limits)."""

    settings: Settings
    database: Database
    outbox: Outbox
    store: SessionStore
    lookup: CoreLookup
    trail: AuditTrail | None = None
    limits: LookupLimits | None = None

    def language_of(self, phone: str) -> str | None:
        """The language the citizen chose on USSD or by `LANG` (one Redis key for both)."""
        return self.store.language(phone)

    def languages_of(self, phones: list[str]) -> dict[str, str | None]:
        """`language_of` for many phones in one round trip."""
        return self.store.languages(phones)

    # -- delivery reports ---------------------------------------------------------------------
    def handle_report(self, report: DeliveryReport) -> str:
        """Keep a delivery report and move its message forward (see `sms.delivery.record_report`)."""
        # Core connections, not an ORM session: reports come once per message sent. On PostgreSQL
        # the usual report (it moves its message forward) is one statement.
        if self.database.is_server:
            with self.database.autocommit.connect() as connection:
                if apply_report_on_server(connection, report, self.trail):
                    return "applied"
        with self.database.engine.begin() as connection:
            return record_report(connection, report, self.trail)

    # -- inbound SMS ----------------------------------------------------------------------------
    def handle_inbound(self, sms: InboundSms) -> InboundResult:
        """Act on a citizen's SMS once per provider id and queue the reply through the outbox.

        Raises `sms.lookups.LookupUnavailable` (STATUS while the core service cannot answer) and
        `redis.RedisError` (LANG while Redis is down) before anything is recorded, so the
        provider's retry does the whole thing again.
        """
        with self.database.session() as session:
            if session.scalar(select(SmsInbound.id).where(SmsInbound.provider_id == sms.provider_id)):
                return InboundResult(True, "duplicate")
        command = parse_command(sms.text)
        lang: str | None = None
        params: dict[str, Any] = {}
        if command.name == "status":
            answer, template = self._status(command.argument or "", sms.phone)
            if answer is not None:
                params = {
                    "reference": answer.reference,
                    "service": answer.service,
                    "status": answer.status,
                    "date": answer.date,
                }
        elif command.name == "lang":
            template, lang = "language_changed", command.argument
            self.store.set_language(sms.phone, lang or self.settings.default_language)
        else:
            template = {
                "help": "help",
                "stop": "stop_confirmed",
                "start": "start_confirmed",
                "unknown": "unknown_command",
            }[command.name]
        reply = self.outbox.prepare(
            template, sms.phone, params, lang, dedupe_key=f"inbound:{sms.provider_id}"
        )
        try:
            with self.database.session() as session:
                inbound = SmsInbound(
                    provider_id=sms.provider_id,
                    phone=sms.phone,
                    command=command.name,
                    argument=command.argument,
                    short_code=sms.short_code,
                    link_id=sms.link_id,
                    network_code=sms.network_code,
                    sent_at=sms.date,
                    received_at=utcnow(),
                )
                session.add(inbound)
                session.flush()
                if command.name == "stop" and session.get(SmsOptOut, sms.phone) is None:
                    session.add(SmsOptOut(phone=sms.phone, since=utcnow()))
                elif command.name == "start":
                    session.execute(delete(SmsOptOut).where(SmsOptOut.phone == sms.phone))
                self.outbox.add(session, reply)
                inbound.reply_id = reply.id
        except IntegrityError:
            return InboundResult(True, "duplicate")
        self.outbox.kick()
        log.info("sms command", command=command.name, phone=mask_phone(sms.phone), message=reply.id)
        return InboundResult(False, command.name, reply.id)

    def _status(self, reference: str, phone: str) -> tuple[ApplicationStatus | None, str]:
        """The citizen's own application with `reference` (None for an unknown reference or anyone
        else's, told apart by no one) and the reply's template; lookups past the limits are not made."""
        if self.limits is None:
            answer = self.lookup.status_of(reference, phone)
            return answer, "status_reply" if answer else "status_not_found"
        if not self.limits.admit(phone, reference):
            return None, "status_too_many"
        try:
            answer = self.lookup.status_of(reference, phone)
        except LookupUnavailable:
            self.limits.found(phone, reference)  # the core could not tell: not a miss
            raise
        if answer is not None:
            self.limits.found(phone, reference)
        return answer, "status_reply" if answer else "status_not_found"

    def opted_out(self, phone: str) -> bool:
        with self.database.session() as session:
            return session.get(SmsOptOut, phone) is not None

    # -- core-service events --------------------------------------------------------------------
    def handle_event(
        self, event: Mapping[str, Any], event_id: str | None = None, event_type: str | None = None
    ) -> EventResult:
        """Queue the SMS a verified core-service event asks for (once per event; see sms.events).
        Raises `EventRefused`, `InvalidPhoneNumber` or `TemplateError` for an unusable event."""
        notification, reason = notification_for(event, self.lookup.service_name, event_id, event_type)
        if notification is None:
            return EventResult(None, reason)
        queued = self.outbox.enqueue(
            notification.template, notification.phone, notification.params, None, notification.dedupe_key
        )
        return EventResult(queued, reason)
