"""Move audit events from the Redis stream into the SQL chain, in batches, exactly once.

A consumer group (`audit-drainers`) hands out entries; an entry is acknowledged and deleted from
the stream only after the SQL transaction that holds it has committed. If SQL is down, entries stay
pending in Redis and the same batch is tried again when it returns. If a commit succeeded but the
acknowledgement was lost, the unique `stream_id` column makes the retry skip what is already there.
One drainer writes at a time (a short Redis lock), so the chain never forks.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError

from audit import metrics
from audit.chain import GENESIS, record_hash
from audit.hops import unpack
from audit.trail import DRAIN_LOCK, GROUP, HEAD, STREAM
from common.db import Database
from common.logs import get_logger
from records.audit import AuditCheckpoint, AuditRecord

log = get_logger("audit.drain")

# Column name -> longest value SQL accepts; longer values are cut so one odd event can't block the drain.
_COLUMNS = {
    "kind": 16,
    "session_id": 64,
    "phone_hash": 64,
    "service_code": 32,
    "tree_id": 64,
    "tree_version": 32,
    "node": 64,
    "language": 8,
    "outcome": 24,
    "journey": 24,
}
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
Entry = tuple[str, dict[str, str] | None]


def drain_client(url: str, password: str = "", sentinel_password: str = "") -> redis.Redis:
    """A patient client: the drainer blocks on the stream for a second at a time. `url` may be a
    Sentinel URL (common/redis_conn.py)."""
    from common.redis_conn import connect

    client = connect(url, "drain", password, sentinel_password)
    assert isinstance(client, redis.Redis), "the audit stream lives on the queue role, never a cluster"
    return client


@contextlib.contextmanager
def drain_lock(client: redis.Redis, wait_s: float = 10.0, ttl_ms: int = 30_000) -> Iterator[bool]:
    """Hold the one-writer lock of the chain; yields False if it could not be had in `wait_s`."""
    token = secrets.token_hex(8)
    deadline = time.monotonic() + wait_s
    while not client.set(DRAIN_LOCK, token, nx=True, px=ttl_ms):
        if time.monotonic() > deadline:
            yield False
            return
        time.sleep(0.02)
    try:
        yield True
    finally:
        with contextlib.suppress(redis.RedisError):
            client.eval(_RELEASE, 1, DRAIN_LOCK, token)


def chain_tail(session: Any) -> tuple[int, str]:
    """(seq, hash) of the newest record, or of the latest purge checkpoint, or (0, GENESIS)."""
    last = session.execute(
        select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
    ).first()
    if last is not None:
        return last.seq, last.hash
    checkpoint = session.execute(
        select(AuditCheckpoint.through_seq, AuditCheckpoint.through_hash)
        .order_by(AuditCheckpoint.through_seq.desc())
        .limit(1)
    ).first()
    if checkpoint is not None:
        return checkpoint.through_seq, checkpoint.through_hash
    return 0, GENESIS


class Drainer:
    """Reads `audit:events` as consumer `consumer` of group `audit-drainers` and writes SQL.

    `linger_s`: after writing a batch smaller than `batch` (the stream had no more), `run` waits
    this long before reading again, so that under load events gather into full batches: a batch's
    fixed cost (the lock, the chain's tail, a commit, the acknowledgements) is then paid once per
    few hundred events instead of once per few. Records reach SQL up to that much later.
    """

    def __init__(
        self,
        client: redis.Redis,
        database: Database,
        consumer: str = "drainer",
        batch: int = 500,
        linger_s: float = 0.0,
    ) -> None:
        self.redis = client
        self.database = database
        self.consumer = consumer
        self.batch = batch
        self.linger_s = linger_s
        self._group_ready = False

    def ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self.redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def read(self, block_ms: int | None = None) -> list[Entry]:
        """Entries this consumer holds unacknowledged (a failed batch) first, else new ones."""
        self.ensure_group()
        try:
            for start, block in (("0", None), (">", block_ms)):
                answer = self.redis.xreadgroup(
                    GROUP, self.consumer, {STREAM: start}, count=self.batch, block=block
                )
                entries = answer[0][1] if answer else []
                if entries:
                    return entries
        except redis.ResponseError as exc:
            # The stream went with its group (a Redis that restarted empty, a new primary without
            # them): make the group again on the next read instead of pausing for good.
            if "NOGROUP" in str(exc):
                self._group_ready = False
            raise
        return []

    def drain_once(self, block_ms: int | None = None) -> int:
        """Write one batch; the number of records added to SQL. Raises if Redis or SQL fails."""
        entries = self.read(block_ms)
        if not entries:
            return 0
        with drain_lock(self.redis) as locked:
            if not locked:
                return 0  # another drainer is writing; these entries stay pending for the next round
            try:
                written, tail = self.write(entries)
            except SQLAlchemyError:
                metrics.AUDIT_WRITE_FAILURES.labels("sql").inc()
                raise
            if tail is not None:
                self.redis.set(HEAD, f"{tail[0]}:{tail[1]}")
        ids = [entry_id for entry_id, _ in entries]
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(STREAM, GROUP, *ids)
        pipe.xdel(STREAM, *ids)
        pipe.execute()
        metrics.AUDIT_RECORDS_WRITTEN.inc(written)
        return written

    def drain_all(self) -> int:
        """Drain until the stream is empty (tests, `audit drain --once`); records written."""
        total = 0
        while self.redis.xlen(STREAM):
            total += self.drain_once()
        return total

    def write(self, entries: list[Entry]) -> tuple[int, tuple[int, str] | None]:
        """Append the entries not yet in SQL to the chain in one transaction."""
        ids = [entry_id for entry_id, _ in entries]
        with self.database.session() as session:
            present = set(
                session.scalars(select(AuditRecord.stream_id).where(AuditRecord.stream_id.in_(ids)))
            )
            seq, prev = chain_tail(session)
            rows = []
            for entry_id, fields in entries:
                if entry_id in present:
                    continue
                if not fields:  # trimmed by MAXLEN while it waited: nothing left to write
                    log.warning("audit event lost before it reached SQL", stream_id=entry_id)
                    metrics.AUDIT_WRITE_FAILURES.labels("trimmed").inc()
                    continue
                seq += 1
                values = event_values(seq, entry_id, fields)
                values["prev_hash"] = prev
                values["hash"] = prev = record_hash(prev, values)
                rows.append(values)
            if rows:
                session.execute(insert(AuditRecord), rows)
        return len(rows), ((seq, prev) if rows else None)

    def run(self, stop: threading.Event, block_ms: int = 1000) -> None:
        """Drain until `stop` is set, backing off while Redis or SQL is unavailable."""
        backoff = 0.5
        while not stop.is_set():
            try:
                written = self.drain_once(block_ms)
                backoff = 0.5
                if 0 < written < self.batch and self.linger_s:
                    stop.wait(self.linger_s)
            except (redis.RedisError, SQLAlchemyError) as exc:
                log.warning("audit drain paused", error=type(exc).__name__, retry_s=backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
            except Exception:
                log.exception("audit drain failed")
                stop.wait(5.0)


def event_values(seq: int, entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    """The columns of one record from a flat stream event."""
    rest = unpack(dict(fields))
    values: dict[str, Any] = {"seq": seq, "stream_id": entry_id}
    at_ms = rest.pop("at", "") or entry_id.split("-")[0]
    try:
        at = datetime.fromtimestamp(int(at_ms) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        at = datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, UTC)
    values["at"] = at.replace(tzinfo=None)
    for name, limit in _COLUMNS.items():
        value = rest.pop(name, None)
        values[name] = value[:limit] if value else None
    values["kind"] = values["kind"] or "unknown"
    final = rest.pop("final", None)
    values["final"] = None if final is None else final == "1"
    latency = rest.pop("latency_ms", None)
    try:
        values["latency_ms"] = round(float(latency), 3) if latency is not None else None
    except ValueError:
        values["latency_ms"] = None
    values["details"] = json.dumps(rest, sort_keys=True, separators=(",", ":")) if rest else None
    return values


def start_drainer_thread(
    client: redis.Redis, database: Database, linger_s: float = 0.0
) -> tuple[threading.Thread, threading.Event]:
    """Run a drainer beside the RQ worker (`client`: see `drain_client`; `linger_s`: see `Drainer`);
    set the event to stop it."""
    stop = threading.Event()
    drainer = Drainer(client, database, linger_s=linger_s)
    thread = threading.Thread(target=drainer.run, args=(stop,), name="audit-drainer", daemon=True)
    thread.start()
    return thread, stop
