"""The SMS worker: the RQ job `send_due()` and the sweeper.

`flask --app app sms worker` builds one `WorkerContext` (database, outbox, sender, audit trail) and
starts an RQ worker that hands it to every job (`common.jobs`); nothing here builds an app.

Jobs follow batches, not messages. Queuing a row kicks (`sms.outbox.Outbox.kick`): a marker in
Redis set with NX, and only the kick that sets it enqueues a `send_due` job. The job clears the
marker, then claims a batch: up to `SMS_BATCH_SIZE` due rows, oldest due first, in one transaction
(status `sending`, attempts + 1, a claim token) before the provider is called. A row committed
after the marker was cleared kicks a job of its own, so no row waits on a claim that could not see
it; a batch that filled up kicks again for the rows it left. A send blocks for a whole round trip
to the provider, so the batch goes out through the worker's thread pool in the background and the
outcomes are recorded as they come back, a few at a time; the job returns as soon as its batch is
claimed, so the worker claims the next while earlier ones are on their way. A worker never has
more than `SMS_SEND_THREADS` claimed rows unanswered: a job waits for room before it claims.

Double sends: a row is sent only by the batch that claimed it, and only rows without a provider
message id are claimed. A worker killed mid-batch leaves its rows `sending`; after
`SMS_STUCK_AFTER_S` the sweeper marks those with a provider message id `sent` and queues the rest
again. Those (and only those) may reach the citizen twice: whether the provider took them before
the kill cannot be known. A kick lost with its job (Redis restarted, a worker killed holding it)
delays rows, never loses them: the marker expires, and the sweeper kicks for rows that waited
`SMS_REQUEUE_AFTER_S`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
import redis
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Integer,
    String,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    column,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnClause, ColumnElement
from sqlalchemy.sql.selectable import TableValuedAlias

from audit.trail import AuditTrail
from common.db import Database
from common.jobs import job_context
from common.lease import lease
from common.logs import get_logger
from config import Settings
from records.sms import (
    FAILED,
    OPTED_OUT,
    QUEUED,
    REJECTED,
    SENDING,
    SENT,
    SmsMessage,
    SmsOptOut,
    SmsStatusChange,
    utcnow,
)
from sms.delivery import apply_pending
from sms.outbox import Outbox, render_message
from sms.sending import SendOutcome, SmsSender
from sms.templates import LANGUAGES, TemplateError, is_essential

log = get_logger("sms.worker")

# Outcomes are written in groups of at most this many, or after this long, whichever comes first.
RECORD_GROUP = 25
RECORD_EVERY_S = 0.1
# A worker claims at most this often: rows that arrive together go out in one batch, not one each.
CLAIM_EVERY_S = 0.05


class SendSlots:
    """How many claimed rows a worker may have on their way to the provider at once. Thread-safe."""

    def __init__(self, capacity: int) -> None:
        self._free = capacity
        self._changed = threading.Condition()

    def take(self, most: int) -> int:
        """Wait until at least one slot is free; take up to `most` of them and return how many."""
        with self._changed:
            while self._free < 1:
                self._changed.wait()
            taken = min(most, self._free)
            self._free -= taken
            return taken

    def give_back(self, count: int = 1) -> None:
        if count:
            with self._changed:
                self._free += count
                self._changed.notify_all()


@dataclass
class WorkerContext:
    """What a worker process shares between jobs: the database, the outbox, the sender, the send
    pool, the batches on their way and the room left for more (`slots`)."""

    settings: Settings
    database: Database
    outbox: Outbox
    sender: SmsSender
    # The citizen's chosen language (`sessions.store.SessionStore.language`), or None.
    language_of: Callable[[str], str | None]
    # Where every status change is also recorded (None: not recorded).
    trail: AuditTrail | None = None
    # `language_of` for many phones in one round trip (`sessions.store.SessionStore.languages`);
    # None: asked one phone at a time.
    languages_of: Callable[[list[str]], dict[str, str | None]] | None = None
    pool: ThreadPoolExecutor = field(init=False)
    batches: ThreadPoolExecutor = field(init=False)
    slots: SendSlots = field(init=False)
    _last_claim: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        threads = self.settings.sms_send_threads
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sms-send")
        self.batches = ThreadPoolExecutor(max_workers=min(threads, 64), thread_name_prefix="sms-batch")
        self.slots = SendSlots(threads)

    def close(self) -> None:
        """Wait for every batch on its way to be sent and recorded (a stopping worker's last act)."""
        self.batches.shutdown(wait=True)
        self.pool.shutdown(wait=True)

    def chosen_languages(self, phones: list[str]) -> dict[str, str | None]:
        """The language each of `phones` chose (None: none); {} when Redis cannot answer (it is
        only asked for the preference: the default will do)."""
        if not phones:
            return {}
        try:
            if self.languages_of is not None:
                return self.languages_of(phones)
            return {phone: self.language_of(phone) for phone in phones}
        except redis.RedisError:
            return {}

    def pace(self) -> None:
        """Wait until `CLAIM_EVERY_S` has passed since this worker's last claim (jobs run one at a time)."""
        wait_s = self._last_claim + CLAIM_EVERY_S - time.monotonic()
        if wait_s > 0:
            time.sleep(wait_s)
        self._last_claim = time.monotonic()


# -- the jobs --------------------------------------------------------------------------------------
def send_due() -> int:
    """RQ job a kick enqueues (`Outbox.kick`): claim a batch of due rows, oldest due first, and
    start sending them in this worker's background (`start_batch`). Returns how many it claimed."""
    return start_batch(job_context(WorkerContext))


def send_sms(message_id: int) -> int:
    """RQ job of the releases that queued one job per row (`sms-<id>`), kept so that such jobs
    still in Redis at an upgrade (and their scheduled retries) run: claim a batch led by
    `message_id` as `send_due` does; 0 at once when another batch already has the row."""
    return start_batch(job_context(WorkerContext), message_id)


def start_batch(ctx: WorkerContext, first_id: int | None = None) -> int:
    """Claim a batch of due rows (`first_id` first, when given and still due; no more rows than
    `ctx.slots` has room for: waits for room) and hand it to `ctx.batches` to send and record.
    A batch that filled its room may have left due rows behind: it kicks again. Returns how many
    rows were claimed."""
    if first_id is not None and not _is_due(ctx, first_id):
        return 0  # another batch has the row, or it is settled
    ctx.pace()
    # From here on a row committed by anyone brings a job of its own: this claim may not see it.
    ctx.outbox.claiming()
    room = ctx.slots.take(ctx.settings.sms_batch_size)
    try:
        token, rows, claimed = _claim(ctx, first_id, limit=room)
    except BaseException:
        ctx.slots.give_back(room)
        raise
    ctx.slots.give_back(room - len(rows))
    if claimed >= room:
        ctx.outbox.kick()
    if rows:
        ctx.batches.submit(_send_in_background, ctx, token, rows)
    return claimed


def _send_in_background(ctx: WorkerContext, token: str, rows: list[_Claimed]) -> None:
    try:
        send_claimed(ctx, token, rows, sent=ctx.slots.give_back)
    except Exception:  # the rows stay `sending`: the sweeper takes them back after SMS_STUCK_AFTER_S
        log.exception("sms batch failed", count=len(rows))


@dataclass
class _Claimed:
    id: int
    phone: str
    body: str
    attempts: int


class _History:
    """Status changes of one transaction, written in one multi-row insert when it ends."""

    def __init__(self, trail: AuditTrail | None) -> None:
        self.trail = trail
        self.rows: list[dict[str, object]] = []
        self.audit: list[dict[str, object]] = []

    def __call__(
        self, message_id: int, status: str, detail: str | None, now: datetime, cost: str | None = None
    ) -> None:
        self.rows.append({"message_id": message_id, "status": status, "detail": detail or None, "at": now})
        event: dict[str, object] = {"message_id": message_id, "status": status, "cost": cost}
        if status in (FAILED, REJECTED):
            event["reason"] = (detail or "")[:120]
        self.audit.append(event)

    def write(self, session: Session) -> None:
        if self.rows:
            connection = session.connection()
            if connection.dialect.name == "postgresql":
                connection.execute(_INSERT_CHANGES_ON_SERVER, _records(self.rows))
            else:
                # Core's executemany: the ORM's bulk insert costs a millisecond more per batch.
                connection.execute(_INSERT_CHANGE, self.rows)
            # The tamper-evident trail gets every state change too, in one round trip per batch.
            if self.trail is not None:
                self.trail.record_many("sms", self.audit)


_INSERT_CHANGE = insert(SmsStatusChange)


def _recordset(*columns: ColumnClause) -> TableValuedAlias:
    """PostgreSQL's rows given as one JSON array of objects (`_records`), as a table named
    "given": one parameter however many rows, dumped by orjson (arrays of values were dumped by
    psycopg one element at a time, and cost more than the statements they saved)."""
    return (
        func.json_to_recordset(cast(bindparam("rows", type_=String), JSON))
        .table_valued(*columns)
        .render_derived(name="given", with_types=True)
    )


def _records(rows: list[dict[str, object]]) -> dict[str, str]:
    """`_recordset`'s parameter for `rows` (dicts keyed by its column names)."""
    return {"rows": orjson.dumps(rows).decode()}


_CHANGES = _recordset(
    column("message_id", BigInteger),
    column("status", String),
    column("detail", String),
    column("at", DateTime),
)
# Every status change of a transaction in one statement on PostgreSQL: an insert per row cost the
# database as much again as the moves they record.
_INSERT_CHANGES_ON_SERVER = insert(SmsStatusChange).from_select(
    ["message_id", "status", "detail", "at"],
    select(_CHANGES.c.message_id, _CHANGES.c.status, _CHANGES.c.detail, _CHANGES.c.at),
)


def _due(now: datetime):
    return and_(
        SmsMessage.status == QUEUED,
        SmsMessage.next_attempt_at <= now,
        SmsMessage.provider_message_id.is_(None),
    )


_DUE_ROW = select(SmsMessage.id).where(SmsMessage.id == bindparam("row_id"), _due(bindparam("now")))


def _is_due(ctx: WorkerContext, message_id: int) -> bool:
    with ctx.database.engine.connect() as connection:
        return connection.scalar(_DUE_ROW, {"row_id": message_id, "now": utcnow()}) is not None


def claim(
    ctx: WorkerContext, first_id: int | None = None, limit: int | None = None
) -> tuple[str, list[_Claimed]]:
    """Claim due rows (`first_id` first when given; `limit`, else SMS_BATCH_SIZE, at most) in one
    transaction, render the ones never rendered, and settle at once the ones that must not go
    (opted out, unrenderable). Returns the claim token and the rows to send; none when `first_id`
    is given and not due (another run has it, or it is settled)."""
    token, rows, _claimed = _claim(ctx, first_id, limit)
    return token, rows


def _claim(ctx: WorkerContext, first_id: int | None, limit: int | None) -> tuple[str, list[_Claimed], int]:
    """`claim`, and how many rows it claimed (the settled ones too)."""
    now = utcnow()
    token = secrets.token_hex(8)
    with ctx.database.session() as session:
        if (
            first_id is not None
            and session.scalar(select(SmsMessage.id).where(SmsMessage.id == first_id, _due(now))) is None
        ):
            return token, [], 0
        # One statement that returns the claimed rows (selecting them again by claim token
        # would scan the whole outbox: no index has the token). Oldest due first, by the order
        # the due index keeps, so a claim reads a batch of it, however many rows are queued.
        batch = (
            select(SmsMessage.id)
            .where(_due(now))
            .order_by(*_first(first_id), SmsMessage.next_attempt_at)
            .limit(limit or ctx.settings.sms_batch_size)
            .with_for_update(skip_locked=True)
        )
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            # The batch as an array computed once (an InitPlan): as an IN (subquery) the planner
            # may rescan it per outer row, each rescan skipping the rows it has just locked, and
            # claim far more than a batch; as a join it may nest a loop over every queued row. The
            # rows it locked are still queued (PostgreSQL rechecks the WHERE on locking).
            chosen = SmsMessage.id == any_(func.array(batch.scalar_subquery()))
        else:  # SQLite runs writers one at a time
            batch_cte = batch.cte("claim_batch")
            chosen = and_(SmsMessage.id == batch_cte.c.id, SmsMessage.status == QUEUED)
        rows = connection.execute(
            update(SmsMessage)
            .where(chosen)
            .values(
                status=SENDING,
                attempts=SmsMessage.attempts + 1,
                claim_token=token,
                sending_at=now,
                updated_at=now,
            )
            .returning(*_CLAIMED_COLUMNS)
        ).all()
        opted_out = set(
            session.scalars(select(SmsOptOut.phone).where(SmsOptOut.phone.in_({r.phone for r in rows})))
        )
        to_send: list[_Claimed] = []
        rendered: list[dict[str, object]] = []
        settled: list[dict[str, object]] = []
        history = _History(ctx.trail)
        languages = ctx.chosen_languages(
            [row.phone for row in rows if row.body is None and row.language is None]
        )
        for row in rows:
            if row.phone in opted_out and not is_essential(row.template):
                settled.append(
                    {"row_id": row.id, "final": OPTED_OUT, "reason": "opted out with STOP", "now": now}
                )
                history(row.id, OPTED_OUT, "opted out with STOP", now)
                continue
            body = row.body
            if body is None:
                try:
                    words = _render(ctx, row, languages.get(row.phone))
                except TemplateError as exc:
                    settled.append(
                        {"row_id": row.id, "final": REJECTED, "reason": str(exc)[:200], "now": now}
                    )
                    history(row.id, REJECTED, str(exc)[:200], now)
                    continue
                rendered.append(words)
                body = words["body"]
            history(row.id, SENDING, f"attempt {row.attempts}", now)
            to_send.append(_Claimed(row.id, row.phone, body or "", row.attempts))
        if rendered and connection.dialect.name == "postgresql":
            connection.execute(_RENDERED_ON_SERVER, _records(rendered))
        elif rendered:
            connection.execute(_RENDERED, rendered)
        if settled:
            connection.execute(_SETTLED, settled)
        history.write(session)
    return token, to_send, len(rows)


def _first(first_id: int | None) -> tuple:
    return () if first_id is None else (case((SmsMessage.id == first_id, 0), else_=1),)


# What a claim returns of each row, and what rendering and settling write back: prebuilt, one
# statement each per batch rather than an ORM object and its flush per row.
_CLAIMED_COLUMNS = (
    SmsMessage.id,
    SmsMessage.phone,
    SmsMessage.template,
    SmsMessage.params,
    SmsMessage.language,
    SmsMessage.body,
    SmsMessage.attempts,
)
_RENDER_FIELDS = ("language", "body", "segments", "encoding")
_RENDERED = (
    update(SmsMessage)
    .where(SmsMessage.id == bindparam("row_id"))
    .values({field: bindparam(field) for field in _RENDER_FIELDS})
)
_RENDERING = _recordset(
    column("row_id", BigInteger),
    column("language", String),
    column("body", Text),
    column("segments", Integer),
    column("encoding", String),
)
_RENDERED_ON_SERVER = (
    update(SmsMessage)
    .where(SmsMessage.id == _RENDERING.c.row_id)
    .values({field: _RENDERING.c[field] for field in _RENDER_FIELDS})
)
_SETTLED = (
    update(SmsMessage)
    .where(SmsMessage.id == bindparam("row_id"))
    .values(
        status=bindparam("final"),
        last_error=bindparam("reason"),
        claim_token=None,
        final_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
)


def _render(ctx: WorkerContext, row, chosen: str | None) -> dict[str, object]:
    """The row's language (its own, else the citizen's `chosen` one, else the default) and text,
    fixed at its first attempt (retries send the same words), as `_RENDERED` parameters. Raises
    `TemplateError`."""
    language = row.language or chosen
    if language not in LANGUAGES:
        language = ctx.settings.default_language
    words = render_message(row.template, language, row.params or {})
    return {
        "row_id": row.id,
        "language": language,
        "body": words.body,
        "segments": words.segments,
        "encoding": str(words.encoding),
    }


# What a provider's answer does to a row still claimed by this batch: prebuilt, so recording an
# answer binds values to one compiled statement instead of building and compiling a new one.
_CLAIMED_BY_US = and_(SmsMessage.claim_token == bindparam("token"), SmsMessage.status == SENDING)
_STILL_OURS = and_(SmsMessage.id == bindparam("row_id"), _CLAIMED_BY_US)


def _sent(provider_id: ColumnElement, cost: ColumnElement) -> dict[str, object]:
    """The columns of a row the provider accepted, its id and cost taken from `provider_id`, `cost`."""
    return dict(
        status=SENT,
        provider_message_id=provider_id,
        cost=cost,
        sent_at=bindparam("now"),
        last_error=None,
        claim_token=None,
        updated_at=bindparam("now"),
    )


_RECORD_SENT = (
    update(SmsMessage).where(_STILL_OURS).values(_sent(bindparam("provider_id"), bindparam("cost")))
)
_ACCEPTED = _recordset(column("id", BigInteger), column("provider_id", String), column("cost", String))
# Every accepted row of a group at once on PostgreSQL; returns the rows still ours.
_RECORD_SENT_ON_SERVER = (
    update(SmsMessage)
    .where(SmsMessage.id == _ACCEPTED.c.id, _CLAIMED_BY_US)
    .values(_sent(_ACCEPTED.c.provider_id, _ACCEPTED.c.cost))
    .returning(SmsMessage.id)
)
_RECORD_RETRY = (
    update(SmsMessage)
    .where(_STILL_OURS)
    .values(
        status=QUEUED,
        next_attempt_at=bindparam("next_at"),
        enqueued_at=bindparam("now"),
        last_error=bindparam("reason"),
        claim_token=None,
        updated_at=bindparam("now"),
    )
)
_RECORD_FAILED = (
    update(SmsMessage)
    .where(_STILL_OURS)
    .values(
        status=FAILED,
        last_error=bindparam("reason"),
        final_at=bindparam("now"),
        claim_token=None,
        updated_at=bindparam("now"),
    )
)


def record(ctx: WorkerContext, token: str, results: Iterable[tuple[_Claimed, SendOutcome]]) -> None:
    """Write the provider's answers for rows of claim `token` in one transaction; schedule retries."""
    now = utcnow()
    retry_delays: set[float] = set()
    accepted_ids: list[str] = []
    settings = ctx.settings
    history = _History(ctx.trail)
    with ctx.database.session() as session:
        connection = session.connection()
        results = list(results)
        if connection.dialect.name == "postgresql":
            accepted = [(claimed, outcome) for claimed, outcome in results if outcome.accepted]
            results = [(claimed, outcome) for claimed, outcome in results if not outcome.accepted]
            _record_accepted_on_server(connection, token, accepted, now, history)
            accepted_ids += [outcome.message_id for _claimed, outcome in accepted if outcome.message_id]
        for claimed, outcome in results:
            params: dict[str, object] = {"row_id": claimed.id, "token": token, "now": now}
            cost = None
            if outcome.accepted:
                statement, cost = _RECORD_SENT, outcome.cost
                params.update(provider_id=outcome.message_id, cost=cost)
                status, detail = SENT, f"{outcome.reason} ({outcome.status_code})"
                if outcome.message_id:
                    accepted_ids.append(outcome.message_id)
            elif outcome.retryable and claimed.attempts < settings.sms_max_attempts:
                delays = settings.sms_retry_delays_s
                delay = delays[min(claimed.attempts - 1, len(delays) - 1)]
                statement = _RECORD_RETRY
                params.update(
                    next_at=now + timedelta(seconds=delay), reason=(outcome.reason or "transient")[:200]
                )
                status, detail = QUEUED, f"retry in {delay:g}s: {outcome.reason}"
                retry_delays.add(delay)
            else:
                reason = outcome.reason or outcome.kind
                if outcome.retryable:
                    reason = f"gave up after {claimed.attempts} attempts: {reason}"
                statement = _RECORD_FAILED
                params.update(reason=reason[:200])
                status, detail = FAILED, reason
            if connection.execute(statement, params).rowcount:
                history(claimed.id, status, detail[:200], now, cost)
            else:
                # The sweeper took the row back meanwhile (stuck too long): it will be sent again.
                log.warning("sms outcome for a row no longer ours", message=claimed.id, outcome=outcome.kind)
        history.write(session)
        apply_pending(session, accepted_ids, ctx.trail)
    for delay in sorted(retry_delays):  # one scheduled kick per backoff, however many rows share it
        ctx.outbox.retry_later(delay)


def _record_accepted_on_server(
    connection, token: str, accepted: list[tuple[_Claimed, SendOutcome]], now: datetime, history: _History
) -> None:
    """`record`'s accepted answers in one statement (PostgreSQL), with their history entries."""
    if not accepted:
        return
    ours = set(
        connection.scalars(
            _RECORD_SENT_ON_SERVER,
            {
                **_records(
                    [
                        {"id": claimed.id, "provider_id": outcome.message_id, "cost": outcome.cost}
                        for claimed, outcome in accepted
                    ]
                ),
                "token": token,
                "now": now,
            },
        )
    )
    for claimed, outcome in accepted:
        if claimed.id in ours:
            history(claimed.id, SENT, f"{outcome.reason} ({outcome.status_code})"[:200], now, outcome.cost)
        else:
            log.warning("sms outcome for a row no longer ours", message=claimed.id, outcome=outcome.kind)


def send_batch(ctx: WorkerContext, first_id: int | None = None) -> int:
    """Claim a batch (led by `first_id` when given), send it and record every answer before
    returning (what a job does, in the caller's thread). Returns how many the provider accepted."""
    token, rows = claim(ctx, first_id)
    if not rows:
        return 0
    return send_claimed(ctx, token, rows)


def send_claimed(
    ctx: WorkerContext, token: str, rows: list[_Claimed], sent: Callable[[int], None] | None = None
) -> int:
    """Send rows of claim `token` concurrently through `ctx.pool`, recording answers as they come
    (`sent(n)` hears of each n answered). Returns how many the provider accepted."""
    started = time.perf_counter()
    pending: dict[Future[SendOutcome], _Claimed] = {
        ctx.pool.submit(ctx.sender.send, row.phone, row.body): row for row in rows
    }
    done_group: list[tuple[_Claimed, SendOutcome]] = []
    accepted = answered = 0
    last_flush = time.monotonic()
    try:
        while pending:
            done, _ = wait(list(pending), timeout=RECORD_EVERY_S, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = future.result()
                accepted += outcome.accepted
                done_group.append((pending.pop(future), outcome))
            if sent is not None and done:
                sent(len(done))
                answered += len(done)
            due = len(done_group) >= RECORD_GROUP or time.monotonic() - last_flush >= RECORD_EVERY_S
            if done_group and (not pending or due):
                record(ctx, token, done_group)
                done_group = []
                last_flush = time.monotonic()
    finally:
        if sent is not None and answered < len(rows):
            sent(len(rows) - answered)  # room is room again, whatever became of the rest
    log.info(
        "sms batch sent",
        count=len(rows),
        accepted=accepted,
        duration_ms=round((time.perf_counter() - started) * 1000),
    )
    return accepted


# -- the sweeper -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepResult:
    requeued: int
    recovered_sent: int
    stuck_requeued: int
    reports_applied: int


SWEEP_LEASE = "sms:sweep"


def sweep_lease_ttl_s(interval_s: float) -> float:
    """How long a sweep holds its lease: a few intervals, so that the lease of a worker killed in
    the middle of a sweep (SIGKILL: nothing releases it) holds the others back only that long. A
    sweep that outlives it is harmless: every row it moves, it moves only if no one else has."""
    return max(10.0, 3 * interval_s)


def sweep(ctx: WorkerContext) -> SweepResult:
    """One sweep at a time across every node (a lease on the queue Redis); a sweep that finds the
    lease taken does nothing and returns zeros. See `_sweep_rows` for what a sweep does."""
    with lease(
        ctx.outbox.connection, SWEEP_LEASE, ttl_s=sweep_lease_ttl_s(ctx.settings.sms_sweep_interval_s)
    ) as held:
        if held is None:
            return SweepResult(0, 0, 0, 0)
        return _sweep_rows(ctx)


def _stale_rows(session: Session, requeue_before: datetime, stuck_before: datetime) -> list[SmsMessage]:
    return list(
        session.scalars(
            select(SmsMessage).where(
                or_(
                    and_(
                        SmsMessage.status == QUEUED,
                        SmsMessage.next_attempt_at <= requeue_before,
                        or_(SmsMessage.enqueued_at.is_(None), SmsMessage.enqueued_at <= requeue_before),
                    ),
                    and_(SmsMessage.status == SENDING, SmsMessage.sending_at <= stuck_before),
                )
            )
        )
    )


def _sweep_rows(ctx: WorkerContext) -> SweepResult:
    """Put back to work what fell between the stores:
    - `queued` rows whose job should have run by now (Redis lost it, or a retry was not scheduled);
    - `sending` rows older than `SMS_STUCK_AFTER_S` (their worker died): `sent` when the provider's
      message id is known, otherwise queued again (or failed, out of attempts);
    - delivery reports that came before their message was recorded.

    Each row moves only if it is still as the sweep read it (same status, same claim, same
    enqueue time): its batch may record it, or a worker claim it, between the read and the write.
    Without that check a row recorded `sent` (or already delivered) a moment after the read went
    back to `queued`, where, holding a provider id, no batch would ever claim it again.
    """
    settings = ctx.settings
    now = utcnow()
    requeue_before = now - timedelta(seconds=settings.sms_requeue_after_s)
    stuck_before = now - timedelta(seconds=settings.sms_stuck_after_s)
    requeued = recovered = stuck = 0
    history = _History(ctx.trail)
    with ctx.database.session() as session:
        for row in _stale_rows(session, requeue_before, stuck_before):
            if row.status == QUEUED:
                unchanged = and_(SmsMessage.status == QUEUED, _same(SmsMessage.enqueued_at, row.enqueued_at))
                if _move(session, row.id, unchanged, enqueued_at=now):
                    requeued += 1
                continue
            unchanged = and_(SmsMessage.status == SENDING, _same(SmsMessage.claim_token, row.claim_token))
            if row.provider_message_id:
                if _move(
                    session, row.id, unchanged, status=SENT, sent_at=now, claim_token=None, updated_at=now
                ):
                    history(row.id, SENT, "recovered: provider message id known", now)
                    recovered += 1
            elif row.attempts >= settings.sms_max_attempts:
                reason = f"worker lost during attempt {row.attempts}; out of attempts"
                done = dict(status=FAILED, last_error=reason, claim_token=None, final_at=now, updated_at=now)
                if _move(session, row.id, unchanged, **done):
                    history(row.id, FAILED, reason, now)
            elif _move(
                session,
                row.id,
                unchanged,
                status=QUEUED,
                claim_token=None,
                next_attempt_at=now,
                enqueued_at=now,
                updated_at=now,
            ):
                history(row.id, QUEUED, "worker lost during send; sending again", now)
                stuck += 1
        history.write(session)
        reports = apply_pending(session, trail=ctx.trail)
    if requeued or stuck:
        ctx.outbox.kick(force=True)  # a kick marker may be left by the very job that was lost
    result = SweepResult(requeued, recovered, stuck, reports)
    if any(vars(result).values()):
        log.info("sms sweep", **vars(result))
    return result


def _same(column, value):
    return column.is_(None) if value is None else column == value


def _move(session: Session, message_id: int, unchanged, **values: object) -> bool:
    """Update the row if it is still `unchanged`; True when it was."""
    moved = session.execute(
        update(SmsMessage)
        .where(SmsMessage.id == message_id, unchanged)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(moved)


class Sweeper(threading.Thread):
    """Runs `sweep` every `SMS_SWEEP_INTERVAL_S` in a worker process; with several workers, a Redis
    lock lets one of them sweep per interval."""

    LOCK = "sms:sweeper"

    def __init__(self, ctx: WorkerContext, connection: redis.Redis) -> None:
        super().__init__(name="sms-sweeper", daemon=True)
        self.ctx = ctx
        self.connection = connection
        self.stopping = threading.Event()

    def run(self) -> None:
        interval = self.ctx.settings.sms_sweep_interval_s
        while not self.stopping.wait(interval):
            try:
                if self.connection.set(self.LOCK, "1", nx=True, px=max(int(interval * 900), 100)):
                    sweep(self.ctx)
            except Exception:  # a sweep that failed is tried again next interval
                log.exception("sms sweep failed")

    def stop(self) -> None:
        self.stopping.set()
