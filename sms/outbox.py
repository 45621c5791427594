"""The SMS outbox: a row in SQL first, then a kick that brings a worker's job to claim it.

    outbox = Outbox(database, redis_client, trail=trail)      # one per process, built by create_app
    outbox.enqueue("application_submitted", phone, {"reference": ref, "service": name}, lang,
                   dedupe_key=submitted_key(ref))

A caller may rely on:
- `enqueue` refuses an unusable phone number (`InvalidPhoneNumber`, with a reason) or template
  call (`TemplateError`) before anything is stored or sent;
- the same `dedupe_key` queues one message however often it is given (a webhook retry, a journey
  replayed): the second call returns the first row with `created=False`;
- once `enqueue` returns, the message is in SQL: if Redis cannot take the job now, the sweeper
  (`sms.worker.sweep`) queues it later. Nothing is lost between the two stores.

Only the parameters the template uses are stored, so a PIN or an ID number passed by mistake is
dropped here rather than kept in the outbox.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import redis
from rq import Queue
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit.trail import AuditTrail
from common.db import Database
from common.logs import get_logger
from common.phones import mask_phone, normalise_phone
from menus.effects import SendSms
from records.sms import QUEUED, SmsMessage, SmsStatusChange, utcnow
from sms.templates import LANGUAGES, TemplateError, get_template, render

log = get_logger("sms.outbox")

# The job a kick enqueues: it claims a batch of due rows, whichever they are.
KICK_JOB = "sms.worker.send_due"
# The job path of releases that queued one job per row (`sms-<id>`); still run, see sms.worker.
ROW_JOB = "sms.worker.send_sms"
# A job that waits on the provider longer than this is stopped by RQ; the sweeper then takes the row.
JOB_TIMEOUT_S = 300
# A kick marker whose job was lost (a worker killed right after taking it) holds back new kicks at
# most this long; a job that waits in the queue longer only brings one more job per this long.
KICK_TTL_MS = 2000


@dataclass(frozen=True)
class Queued:
    """The outbox row behind an `enqueue` call; `created` is False when the dedupe key was known."""

    id: int
    created: bool
    status: str


def submitted_key(reference: str) -> str:
    """The dedupe key of the one "your reference is …" SMS per application, whoever asks for it
    (the USSD journey on confirm, the core service's `application.submitted` webhook, or the queued
    write once it got its reference): use it with `application_submitted` or
    `application_reference_assigned`."""
    return f"application_submitted:{reference.strip().upper()}"


def localised(value: object, language: str) -> object:
    """A parameter given in both languages (`{"en": …, "sw": …}`) in `language`; others unchanged."""
    if isinstance(value, Mapping):
        return value.get(language) or value.get("en") or next(iter(value.values()), "")
    return value


def _storable(value: object) -> object:
    """JSON-safe form of a parameter that renders the same way later."""
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return value


def render_message(template: str, language: str, params: Mapping[str, Any]):
    """`sms.templates.render` with bilingual parameters resolved to `language`."""
    return render(template, language, {k: localised(v, language) for k, v in params.items()})


class Outbox:
    """Adds messages to the outbox and hands their ids to RQ. One per process; thread-safe.
    With a `trail`, every message queued is also an audit event."""

    def __init__(
        self,
        database: Database,
        connection: redis.Redis,
        queue_name: str = "sms",
        phone_regions: tuple[str, ...] = ("KE",),
        trail: AuditTrail | None = None,
    ) -> None:
        self.database = database
        self.connection = connection
        self.queue = Queue(queue_name, connection=connection)
        self.kick_key = f"sms:kick:{queue_name}"
        self.phone_regions = phone_regions
        self.trail = trail

    # -- adding -------------------------------------------------------------------------------
    def prepare(
        self,
        template: str,
        phone: str,
        params: Mapping[str, Any],
        lang: str | None = None,
        dedupe_key: str | None = None,
    ) -> SmsMessage:
        """A new, unsaved outbox row; raises `InvalidPhoneNumber` or `TemplateError` for bad input."""
        return SmsMessage(**self._row(template, phone, params, lang, dedupe_key))

    def _row(
        self,
        template: str,
        phone: str,
        params: Mapping[str, Any],
        lang: str | None,
        dedupe_key: str | None,
    ) -> dict[str, Any]:
        """`prepare`'s row as the values of every column but the id (a plain dict: building the
        ORM object and reading it back cost the webhook a tenth of its CPU)."""
        e164 = normalise_phone(phone, self.phone_regions)
        spec = get_template(template)
        if lang is not None and lang not in LANGUAGES:
            raise TemplateError(f"unknown language {lang!r} (have {LANGUAGES})")
        kept = {name: _storable(params[name]) for name in spec.params if name in params}
        # Render once now so a missing or oversized parameter is refused to the caller, not at send
        # (what `render` refuses does not depend on the language).
        render_message(template, lang or LANGUAGES[0], kept)
        now = utcnow()
        return {
            **_UNSET,
            "dedupe_key": (dedupe_key or f"uuid:{uuid.uuid4().hex}")[:128],
            "phone": e164,
            "template": template,
            "params": kept,
            "language": lang,
            "status": QUEUED,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
            "next_attempt_at": now,
            "enqueued_at": now,
        }

    def add(self, session: Session, message: SmsMessage) -> SmsMessage:
        """Add a prepared row in the caller's transaction (with its first history entry). The
        caller calls `kick()` after committing; the sweeper covers a missed one."""
        session.add(message)
        session.flush()
        session.add(
            SmsStatusChange(message_id=message.id, status=QUEUED, detail=message.template, at=utcnow())
        )
        return message

    def enqueue(
        self,
        template: str,
        phone: str,
        params: Mapping[str, Any],
        lang: str | None = None,
        dedupe_key: str | None = None,
    ) -> Queued:
        """Queue one SMS: the row in SQL (once per `dedupe_key`), then a kick (`kick`).

        `lang` None means the citizen's language when it is sent (what they chose on USSD or by
        `LANG`), else the default. Parameters may be given in both languages as `{"en", "sw"}`.
        """
        values = self._row(template, phone, params, lang, dedupe_key)
        try:
            # Prebuilt Core statements: a third of the ORM's cost per event. On PostgreSQL the row and
            # its first history entry go in one statement, one round trip; SQLite takes two, in-process.
            if self.database.is_server:
                with self.database.autocommit.connect() as connection:
                    message_id = connection.execute(_QUEUE_ON_SERVER, values).scalar_one()
            else:
                with self.database.engine.begin() as connection:
                    message_id = connection.execute(_INSERT_MESSAGE, values).scalar_one()
                    connection.execute(
                        _INSERT_HISTORY,
                        {"message_id": message_id, "status": QUEUED, "detail": template, "at": utcnow()},
                    )
        except IntegrityError:
            with self.database.session() as session:
                existing = session.scalars(
                    select(SmsMessage).where(SmsMessage.dedupe_key == values["dedupe_key"])
                ).one()
            log.info("sms already queued", message=existing.id, template=template, status=existing.status)
            return Queued(existing.id, False, existing.status)
        log.info("sms queued", message=message_id, template=template, phone=mask_phone(values["phone"]))
        audit = {"message_id": message_id, "status": QUEUED, "template": template, "phone": values["phone"]}
        self.kick(audit)
        return Queued(message_id, True, QUEUED)

    def notify(self, sms: SendSms) -> bool:
        """Queue the SMS a journey or a job asked for (`menus.effects.SendSms`). True when a new
        message was queued, False for a repeat of its dedupe key or a failure. Never raises: a hop
        or a job must not fail because an SMS could not be queued; such a loss is logged as an error."""
        try:
            return self.enqueue(sms.template, sms.phone, sms.params, sms.lang, sms.dedupe_key).created
        except Exception as exc:  # the SMS is lost, the journey is not: say so loudly
            log.error("sms not queued", template=sms.template, error=type(exc).__name__)
            return False

    # -- handing to RQ ------------------------------------------------------------------------
    def kick(self, audit: dict[str, Any] | None = None, *, force: bool = False) -> bool:
        """Make sure a worker claims the queued rows soon, with the `audit` event of an "sms" kind
        (to the trail, when there is one) in the same round trip. Never raises.

        One job claims a whole batch of due rows, so jobs follow batches, not messages: the kick
        marker (`kick_key`) is set with NX, and only the caller that sets it enqueues a job
        (`send_due`); the job clears the marker before it claims, so a row committed after that
        claim's read finds the marker clear and brings a job of its own. `force` enqueues a job
        whatever the marker says (the sweeper and a starting worker: a marker whose job was lost).
        On a Redis failure the rows stay `queued` in SQL and the sweeper kicks again; a marker whose
        job was lost expires after `KICK_TTL_MS`."""
        if audit is not None and self.trail is not None and self.trail.redis is not self.connection:
            self.trail.record("sms", **audit)  # the trail lives elsewhere: its own round trip
            audit = None
        try:
            with self.connection.pipeline(transaction=False) as pipe:
                if audit is not None and self.trail is not None:
                    self.trail.add_to(pipe, "sms", **audit)
                pipe.set(self.kick_key, b"1", nx=not force, px=KICK_TTL_MS)
                marked = pipe.execute()[-1]
        except redis.RedisError as exc:
            log.warning("sms kick not enqueued; the sweeper will", error=str(exc)[:120])
            if audit is not None and self.trail is not None:
                self.trail.failed()
            return False
        if not marked:
            return True  # a job is on its way and claims after this row's commit
        try:
            self._enqueue_kick()
        except redis.RedisError as exc:
            log.warning("sms kick not enqueued; the sweeper will", error=str(exc)[:120])
            self._unmark()  # a marker without its job would hold back the next kicks until it expires
            return False
        return True

    def claiming(self) -> None:
        """Clear the kick marker: called by a job right before it claims, so that a row committed
        after the claim's read kicks a job of its own. Best effort (the marker expires anyway)."""
        self._unmark()

    def _unmark(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self.connection.delete(self.kick_key)

    def _enqueue_kick(self, delay_s: float | None = None) -> None:
        options = {
            "job_id": f"sms-kick-{uuid.uuid4().hex}",
            "job_timeout": JOB_TIMEOUT_S,
            "result_ttl": 0,
            "failure_ttl": 24 * 3600,
        }
        if delay_s is None:
            self.queue.enqueue(KICK_JOB, **options)
        else:
            # RQ keeps a scheduled time in whole seconds, cut down: rounded up here, so the kick
            # never runs before the rows it is for are due (it would claim none of them).
            at = dt.datetime.fromtimestamp(math.ceil(time.time() + delay_s), dt.UTC)
            self.queue.enqueue_at(at, KICK_JOB, **options)

    def retry_later(self, delay_s: float) -> bool:
        """Schedule a kick in `delay_s` with RQ's scheduler, for rows put back with that backoff
        (one job however many rows share the delay; the sweeper is the fallback)."""
        try:
            self._enqueue_kick(delay_s)
        except redis.RedisError as exc:
            log.warning("sms retry not scheduled; the sweeper will", error=type(exc).__name__)
            return False
        return True


_COLUMNS = [column for column in SmsMessage.__table__.columns if column.key != "id"]
# Every column a new row leaves empty (the statements bind all of them).
_UNSET = MappingProxyType(dict.fromkeys(column.key for column in _COLUMNS))
_INSERT_MESSAGE = insert(SmsMessage).returning(SmsMessage.id)
_INSERT_HISTORY = insert(SmsStatusChange)


def _queue_on_server():
    """The new row and its first history entry in one statement (PostgreSQL's INSERT in a WITH); its
    parameters are the row's columns, the entry takes the row's status, template (as its detail)
    and creation time; returns the row's id."""
    new = (
        insert(SmsMessage)
        .values({column.key: bindparam(column.key, type_=column.type) for column in _COLUMNS})
        .returning(SmsMessage.id)
        .cte("new_message")
    )
    first_entry = select(
        new.c.id,
        bindparam("status", type_=SmsStatusChange.status.type),
        bindparam("template", type_=SmsStatusChange.detail.type),
        bindparam("created_at", type_=SmsStatusChange.at.type),
    )
    return (
        insert(SmsStatusChange)
        .from_select(["message_id", "status", "detail", "at"], first_entry)
        .add_cte(new)
        .returning(SmsStatusChange.message_id)
    )


_QUEUE_ON_SERVER = _queue_on_server()
