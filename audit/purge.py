"""Retention: delete records older than AUDIT_RETENTION_DAYS and leave a checkpoint so the rest of
the chain still verifies from where the purge stopped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import delete, func, select

from audit.drain import drain_lock
from audit.trail import AuditTrail
from audit.verify import ChainProblem, verify_chain
from common.db import Database
from records.audit import AuditCheckpoint, AuditRecord


class PurgeRefused(Exception):
    """The chain is broken: purging would destroy the evidence."""

    def __init__(self, problem: ChainProblem) -> None:
        super().__init__(f"chain broken, not purging: {problem}")
        self.problem = problem


@dataclass(frozen=True)
class PurgeResult:
    purged: int
    through_seq: int | None


def purge(
    database: Database,
    client: redis.Redis,
    retention_days: int,
    trail: AuditTrail,
    now: datetime | None = None,
) -> PurgeResult:
    """Delete the oldest records, a whole prefix of the chain, whose time is before the cutoff; the
    purge itself is recorded in `trail`."""
    report = verify_chain(database, client)
    if report.problem is not None:
        raise PurgeRefused(report.problem)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    cutoff = now - timedelta(days=retention_days)
    with drain_lock(client, wait_s=30) as locked:
        if not locked:
            raise TimeoutError("the audit drainer holds the chain lock; try again")
        with database.session() as session:
            first_kept = session.scalar(select(func.min(AuditRecord.seq)).where(AuditRecord.at >= cutoff))
            through = (
                first_kept - 1
                if first_kept is not None
                else session.scalar(select(func.max(AuditRecord.seq)))
            )
            oldest = session.scalar(select(func.min(AuditRecord.seq)))
            if through is None or oldest is None or through < oldest:
                return PurgeResult(0, None)
            through_hash = session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == through))
            count = session.scalar(select(func.count(AuditRecord.seq)).where(AuditRecord.seq <= through)) or 0
            session.add(
                AuditCheckpoint(through_seq=through, through_hash=through_hash, purged=count, created_at=now)
            )
            session.execute(delete(AuditRecord).where(AuditRecord.seq <= through))
    # The purge itself joins the trail, so the checkpoint it left is chained too.
    trail.record(
        "operator",
        action="audit_purge",
        actor="cli",
        through_seq=through,
        through_hash=through_hash,
        purged=count,
    )
    return PurgeResult(count, through)
