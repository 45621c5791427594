"""SQL goes away mid-load: audit events wait in Redis and are all written, once, when it returns.

"Stopping" SQLite here means moving its folder away and closing the pooled connections, so every
new connection fails with the driver's real `OperationalError` ("unable to open database file").
On PostgreSQL the server refuses connections to the database and ends the open ones, so the
drainer meets a dropped connection and then the server's refusal. That proves the drainer's side:
nothing is acknowledged before commit, the stream holds the backlog, and the retry writes each
event exactly once.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from audit import metrics
from audit.drain import Drainer, drain_client
from audit.trail import STREAM
from audit.verify import verify_chain
from records.audit import AuditRecord
from tests.hops import at_hop
from tests.support import wait_until


def count_records(database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count(AuditRecord.seq))) or 0


def wait_for(condition, timeout: float = 20.0) -> bool:
    return wait_until(condition, timeout=timeout, interval=0.05)


@pytest.fixture
def sql_outage(request, database_url, tmp_path):
    """(take_away, bring_back): make the test's database unreachable, then reachable again."""
    if database_url.startswith("sqlite"):
        away = tmp_path.with_name(tmp_path.name + "-away")
        return (lambda: tmp_path.rename(away)), (lambda: away.rename(tmp_path))
    admin = request.getfixturevalue("postgres_cluster").admin()
    name = make_url(database_url).database

    def take_away() -> None:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))

    return take_away, (lambda: admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))


def test_events_wait_in_redis_while_sql_is_down(app, sql_outage):
    take_away, bring_back = sql_outage
    database = app.extensions["database"]
    client = app.extensions["redis"]
    hops = app.extensions["hops"]
    drainer = Drainer(drain_client(app.extensions["settings"].redis_url), database, batch=200)
    stop = threading.Event()
    thread = threading.Thread(target=drainer.run, args=(stop,), kwargs={"block_ms": 50}, daemon=True)
    thread.start()
    failures = metrics.AUDIT_WRITE_FAILURES.labels("sql")
    failures_before = failures._value.get()
    keys = ("", "7", "7*2", "7*2*0")

    def load(first: int, sessions: int) -> None:
        for n in range(first, first + sessions):
            for text in keys:
                hops.handle(at_hop(f"OUT{n}", "+254712000000", "*384*123#", "63902", text))

    try:
        load(0, 100)
        assert wait_for(lambda: count_records(database) == 400)

        take_away()  # the database is gone …
        database.engine.dispose()
        load(100, 250)  # … while citizens keep dialling
        assert wait_for(lambda: failures._value.get() > failures_before)
        assert count_records_safely(database) is None
        assert client.xlen(STREAM) == 1000  # every event of the outage waits in Redis

        bring_back()  # … and it is back
        assert wait_for(lambda: client.xlen(STREAM) == 0)
    finally:
        stop.set()
        thread.join(5)

    assert count_records(database) == 1400
    with database.session() as session:
        assert session.scalar(select(func.count(func.distinct(AuditRecord.stream_id)))) == 1400
        per_session = session.execute(
            select(AuditRecord.session_id, func.count()).group_by(AuditRecord.session_id)
        ).all()
    assert len(per_session) == 350 and {hops for _, hops in per_session} == {4}
    assert verify_chain(database, client).ok


def count_records_safely(database) -> int | None:
    try:
        return count_records(database)
    except Exception:
        return None
