"""Delivery reports: keep every one, move an outbox row forward only, apply early ones later.

A report names the provider's message id. When the worker has not yet recorded that id (the
provider can report before our record of its answer is committed) the report waits with
`applied_at` empty and is applied when the send is recorded (`apply_pending`) or by the sweeper.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, literal_column, select, update
from sqlalchemy.orm import Session

from audit.trail import AuditTrail
from records.sms import (
    DELIVERED,
    FAILED,
    FINAL_STATUSES,
    OPTED_OUT,
    QUEUED,
    REJECTED,
    SENDING,
    SENT,
    SmsDeliveryReport,
    SmsMessage,
    SmsStatusChange,
    utcnow,
)

# Africa's Talking's report statuses (docs/africastalking.md) and where each takes a message.
REPORT_STATUSES: dict[str, str] = {
    "Submitted": SENT,
    "Buffered": SENT,
    "Sent": SENT,
    "Success": DELIVERED,
    "Failed": FAILED,
    "Rejected": FAILED,
    "AbsentSubscriber": FAILED,
    "Expired": FAILED,
}
# How far along each outbox status is; a report may only move a row to a higher rank.
RANK: dict[str, int] = {
    QUEUED: 0,
    SENDING: 1,
    SENT: 2,
    DELIVERED: 3,
    FAILED: 3,
    OPTED_OUT: 3,
    REJECTED: 3,
}


class UnknownReportStatus(ValueError):
    """A report status we do not know; refused so the sender can see it, not silently kept."""


@dataclass(frozen=True)
class DeliveryReport:
    """One delivery report as Africa's Talking posts it (form fields, already checked for size)."""

    provider_message_id: str
    status: str
    phone: str | None = None
    network_code: str | None = None
    failure_reason: str | None = None
    retry_count: int | None = None


def target_status(report_status: str) -> str:
    """The outbox status a report status means; `UnknownReportStatus` for anything else."""
    try:
        return REPORT_STATUSES[report_status]
    except KeyError:
        known = ", ".join(REPORT_STATUSES)
        raise UnknownReportStatus(f"unknown status {report_status!r} (known: {known})") from None


def _move_statement(target: str, by_provider_id: bool):
    earlier = [code for code, rank in RANK.items() if rank < RANK[target]]
    values: dict[str, object] = {"status": target, "updated_at": bindparam("now")}
    if target in FINAL_STATUSES:
        values["final_at"] = bindparam("now")
    if target == FAILED:
        values["last_error"] = bindparam("last_error")
    which = (
        SmsMessage.provider_message_id == bindparam("provider_id")
        if by_provider_id
        else SmsMessage.id == bindparam("message_id")
    )
    # The earlier statuses written into the statement (they are our own constants): a bound list
    # is expanded into the SQL text again at every execution, a tenth of a report's CPU.
    earlier_statuses = [literal_column(f"'{code}'") for code in earlier]
    statement = update(SmsMessage).where(which, SmsMessage.status.in_(earlier_statuses)).values(**values)
    return statement.returning(SmsMessage.id).execution_options(synchronize_session=False)


# Built once: a report binds its values to a compiled statement (reports come one per SMS sent).
_TARGETS = set(REPORT_STATUSES.values())
_MOVES = {target: _move_statement(target, by_provider_id=False) for target in _TARGETS}
_MOVES_BY_PROVIDER_ID = {target: _move_statement(target, by_provider_id=True) for target in _TARGETS}
_FIND_MESSAGE = select(SmsMessage.id).where(SmsMessage.provider_message_id == bindparam("provider_id"))
_INSERT_CHANGE = insert(SmsStatusChange)
_INSERT_REPORT = insert(SmsDeliveryReport)


def _report_on_server(target: str):
    """A report that moves its message, in one statement (PostgreSQL's UPDATE and INSERTs in a
    WITH): the move, its history entry and the kept report; returns the message's id, or nothing
    when it moved no message (unknown yet, or not forward)."""
    moved = _MOVES_BY_PROVIDER_ID[target].cte("moved")
    change = (
        insert(SmsStatusChange)
        .from_select(
            ["message_id", "status", "detail", "at"],
            select(
                moved.c.id,
                bindparam("target", type_=SmsStatusChange.status.type),
                bindparam("detail", type_=SmsStatusChange.detail.type),
                bindparam("now", type_=SmsStatusChange.at.type),
            ),
        )
        .cte("change")
    )
    columns = ["provider_message_id", "status", "failure_reason", "phone", "network_code", "retry_count"]
    kept = select(
        *(bindparam(f"report_{name}", type_=SmsDeliveryReport.__table__.c[name].type) for name in columns),
        moved.c.id,
        bindparam("now", type_=SmsDeliveryReport.received_at.type),
        bindparam("now", type_=SmsDeliveryReport.applied_at.type),
    )
    return (
        insert(SmsDeliveryReport)
        .from_select([*columns, "message_id", "received_at", "applied_at"], kept)
        .add_cte(moved, change)
        .returning(SmsDeliveryReport.message_id)
    )


_REPORTS_ON_SERVER = {target: _report_on_server(target) for target in _TARGETS}


def apply_report_on_server(
    connection: Connection, report: DeliveryReport, trail: AuditTrail | None = None
) -> bool:
    """`record_report` for the common case, in one statement on PostgreSQL outside a transaction:
    True when the report moved its message (and is kept); False when nothing was written, and the
    caller records the report with `record_report` (a repeat, an older status, an unknown message)."""
    target = target_status(report.status)
    now = utcnow()
    failure_reason = (report.failure_reason or None) and report.failure_reason[:64]
    detail = f"report {report.status}" + (f": {failure_reason}" if failure_reason else "")
    params = _move_params(target, report.status, failure_reason, now, provider_id=report.provider_message_id)
    params.update(
        target=target,
        detail=detail[:200],
        report_provider_message_id=report.provider_message_id,
        report_status=report.status,
        report_failure_reason=failure_reason,
        report_phone=report.phone,
        report_network_code=report.network_code,
        report_retry_count=report.retry_count,
    )
    message_id = connection.scalar(_REPORTS_ON_SERVER[target], params)
    if message_id is None:
        return False
    if trail is not None:
        trail.record("sms", message_id=message_id, status=target, reason=failure_reason)
    return True


def _move_params(target: str, status: str, failure_reason: str | None, now: datetime, **which) -> dict:
    params: dict[str, object] = {"now": now, **which}
    if target == FAILED:
        # Only then: an extra key named like a column would be SET by an UPDATE.
        params["last_error"] = (failure_reason or status)[:200]
    return params


def _moved(
    session: Session | Connection,
    message_id: int,
    target: str,
    status: str,
    failure_reason: str | None,
    now: datetime,
    trail: AuditTrail | None,
) -> None:
    """The history entry and audit event of a move a report of `status` made."""
    detail = f"report {status}" + (f": {failure_reason}" if failure_reason else "")
    change = {"message_id": message_id, "status": target, "detail": detail[:200], "at": now}
    session.execute(_INSERT_CHANGE, change)
    if trail is not None:
        trail.record("sms", message_id=message_id, status=target, reason=failure_reason)


def _move(
    session: Session | Connection,
    message_id: int,
    status: str,
    failure_reason: str | None,
    now: datetime,
    trail: AuditTrail | None,
) -> bool:
    """Move the message to where a report of `status` takes it, if that is forward; True when it moved."""
    target = target_status(status)
    params = _move_params(target, status, failure_reason, now, message_id=message_id)
    if session.execute(_MOVES[target], params).first() is None:
        return False
    _moved(session, message_id, target, status, failure_reason, now, trail)
    return True


def _apply(session: Session, row: SmsDeliveryReport, message_id: int, trail: AuditTrail | None) -> bool:
    """Apply a kept report to its message and mark the report done."""
    now = utcnow()
    row.message_id = message_id
    row.applied_at = now
    return _move(session, message_id, row.status, row.failure_reason, now, trail)


def record_report(
    session: Session | Connection, report: DeliveryReport, trail: AuditTrail | None = None
) -> str:
    """Keep `report` and apply it if its message is known: "applied" (the status moved), "kept"
    (nothing to move: a repeat or an older report) or "pending" (message not recorded yet).
    Takes an ORM session or, cheaper at volume, a Core connection inside a transaction."""
    target = target_status(report.status)
    now = utcnow()
    failure_reason = (report.failure_reason or None) and report.failure_reason[:64]
    # Moving by the provider's id first: one statement when the report moves its message, as most do.
    params = _move_params(target, report.status, failure_reason, now, provider_id=report.provider_message_id)
    message_id = session.scalar(_MOVES_BY_PROVIDER_ID[target], params)
    moved = message_id is not None
    if moved:
        _moved(session, message_id, target, report.status, failure_reason, now, trail)
    else:
        message_id = session.scalar(_FIND_MESSAGE, {"provider_id": report.provider_message_id})
    # Plain inserts, not ORM objects: reports arrive as fast as messages go out.
    session.execute(
        _INSERT_REPORT,
        {
            "provider_message_id": report.provider_message_id,
            "status": report.status,
            "failure_reason": failure_reason,
            "phone": report.phone,
            "network_code": report.network_code,
            "retry_count": report.retry_count,
            "message_id": message_id,
            "received_at": now,
            "applied_at": now if message_id is not None else None,
        },
    )
    if message_id is None:
        return "pending"
    return "applied" if moved else "kept"


def apply_pending(
    session: Session, provider_message_ids: Iterable[str] | None = None, trail: AuditTrail | None = None
) -> int:
    """Apply reports that arrived before their message was recorded, oldest first; returns how
    many moved a status. With no ids, every pending report whose message is now known."""
    query = (
        select(SmsDeliveryReport, SmsMessage.id)
        .join(SmsMessage, SmsMessage.provider_message_id == SmsDeliveryReport.provider_message_id)
        .where(SmsDeliveryReport.applied_at.is_(None))
        .order_by(SmsDeliveryReport.id)
    )
    if provider_message_ids is not None:
        ids = list(provider_message_ids)
        if not ids:
            return 0
        query = query.where(SmsDeliveryReport.provider_message_id.in_(ids))
    moved = 0
    for row, message_id in session.execute(query).all():
        moved += _apply(session, row, message_id, trail)
    return moved
