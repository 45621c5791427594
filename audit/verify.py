"""Walk the chain and name the first record that was changed, inserted or deleted.

Each record's hash covers its content and its predecessor's hash, and sequence numbers have no
gaps, so: an edited row no longer matches its hash; a deleted row leaves a gap (or, renumbered, a
broken link); an inserted row breaks the link of the row after it. The newest (seq, hash) the
drainer wrote is also kept in Redis (`audit:head`), which catches rows cut from or added at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import redis
from sqlalchemy import func, select

from audit.chain import GENESIS, record_hash, row_values
from audit.drain import drain_lock
from audit.trail import HEAD
from common.db import Database
from records.audit import AuditCheckpoint, AuditRecord


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    kind: str  # changed | inserted | deleted
    detail: str

    def __str__(self) -> str:
        return f"record {self.seq} {self.kind}: {self.detail}"


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    first_seq: int  # the first record the walk started from (after the latest purge checkpoint)
    last_seq: int
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _pairs(rows: Iterable[AuditRecord]) -> Iterator[tuple[AuditRecord, AuditRecord | None]]:
    """Each row with the one after it."""
    iterator = iter(rows)
    current = next(iterator, None)
    while current is not None:
        following = next(iterator, None)
        yield current, following
        current = following


def _head(client: redis.Redis | None, database: Database) -> tuple[tuple[int, str] | None, int | None]:
    """The anchored (seq, hash) and SQL's newest seq, read together while no drainer writes."""
    if client is None:
        return None, None
    try:
        with drain_lock(client) as locked:
            if not locked:
                return None, None
            raw = client.get(HEAD)
            with database.session() as session:
                newest = session.scalar(select(func.max(AuditRecord.seq)))
    except redis.RedisError:  # without Redis the walk still checks everything but the very end
        return None, None
    if not raw:
        return None, newest
    text = raw.decode() if isinstance(raw, bytes) else raw
    seq, _, digest = text.partition(":")
    return (int(seq), digest), newest


def verify_chain(database: Database, client: redis.Redis | None = None) -> VerifyReport:
    """Check every record after the latest purge checkpoint; the first problem found, if any."""
    anchor, newest = _head(client, database)
    with database.session() as session:
        checkpoint = session.execute(
            select(AuditCheckpoint).order_by(AuditCheckpoint.through_seq.desc()).limit(1)
        ).scalar_one_or_none()
        start_seq, prev = (checkpoint.through_seq, checkpoint.through_hash) if checkpoint else (0, GENESIS)
        query = select(AuditRecord).where(AuditRecord.seq > start_seq).order_by(AuditRecord.seq)
        if newest is not None:
            query = query.where(AuditRecord.seq <= newest)
        expected, before_prev, prev_seq, checked = start_seq + 1, None, start_seq, 0
        report = None
        for row, following in _pairs(session.scalars(query.execution_options(yield_per=2000))):
            problem = _check(row, following, expected, prev, before_prev, prev_seq, anchor)
            if problem:
                report = VerifyReport(checked, start_seq + 1, row.seq, problem)
                break
            checked += 1
            before_prev, prev, prev_seq, expected = prev, row.hash, row.seq, row.seq + 1
    if report is not None:
        return report
    last = prev_seq
    if anchor is not None:
        if last < anchor[0]:
            problem = ChainProblem(
                last + 1, "deleted", f"the trail ends at {last} but {anchor[0]} was written"
            )
            return VerifyReport(checked, start_seq + 1, last, problem)
        if last == anchor[0] and prev != anchor[1] and last > start_seq:
            problem = ChainProblem(last, "changed", "the newest record differs from the one written")
            return VerifyReport(checked, start_seq + 1, last, problem)
    return VerifyReport(checked, start_seq + 1, last, None)


def _check(
    row: AuditRecord,
    following: AuditRecord | None,
    expected: int,
    prev: str,
    before_prev: str | None,
    prev_seq: int,
    anchor: tuple[int, str] | None,
) -> ChainProblem | None:
    if row.seq > expected:
        missing = f"{expected}" if row.seq == expected + 1 else f"{expected}–{row.seq - 1}"
        return ChainProblem(expected, "deleted", f"record(s) {missing} missing before {row.seq}")
    self_ok = record_hash(row.prev_hash, row_values(row)) == row.hash
    if row.prev_hash != prev:
        if following is not None and following.prev_hash == prev:
            return ChainProblem(row.seq, "inserted", f"not linked to record {prev_seq}; the next one is")
        if before_prev is not None and row.prev_hash == before_prev:
            return ChainProblem(prev_seq, "inserted", f"record {row.seq} links past it to the one before")
        if anchor is not None and row.seq > anchor[0]:
            return ChainProblem(row.seq, "inserted", f"after the newest record written ({anchor[0]})")
        if self_ok:
            return ChainProblem(prev_seq, "changed", f"re-hashed: record {row.seq} still holds its old hash")
        return ChainProblem(row.seq, "changed", "its link to the previous record was altered")
    if not self_ok:
        return ChainProblem(row.seq, "changed", "its content no longer matches its hash")
    if anchor is not None and row.seq > anchor[0]:
        return ChainProblem(row.seq, "inserted", f"after the newest record written ({anchor[0]})")
    return None
