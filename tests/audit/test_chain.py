"""`audit verify` names the first changed, inserted or deleted record; `audit purge` keeps it verifiable."""

from __future__ import annotations

import time

from sqlalchemy import insert, select, text

from audit.chain import CHAINED_FIELDS, record_hash, row_values
from audit.drain import Drainer, drain_client
from audit.verify import verify_chain
from records.audit import AuditCheckpoint, AuditRecord

DAY_MS = 24 * 3600 * 1000


def fill(app, count: int = 10, at_ms: int | None = None) -> None:
    for n in range(count):
        app.extensions["audit"].record("operator", action="publish_tree", actor=f"op{n}", at=at_ms)
    Drainer(drain_client(app.extensions["settings"].redis_url), app.extensions["database"]).drain_all()


def sql(app, statement: str, **params) -> None:
    with app.extensions["database"].session() as session:
        session.execute(text(statement), params)


def verify(app):
    return verify_chain(app.extensions["database"], app.extensions["redis"])


def run_verify_command(app):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


def test_an_untouched_chain_verifies(app):
    fill(app)
    report = verify(app)
    assert report.ok and report.checked == 10 and report.last_seq == 10
    result = run_verify_command(app)
    assert result.exit_code == 0 and "10 records" in result.output


def test_an_edited_record_is_named(app):
    fill(app)
    sql(app, "UPDATE audit_records SET node = 'forged' WHERE seq = 4")
    problem = verify(app).problem
    assert (problem.seq, problem.kind) == (4, "changed")
    result = run_verify_command(app)
    assert result.exit_code == 1 and "record 4 changed" in result.output


def test_an_edited_and_rehashed_record_is_named(app):
    fill(app)
    with app.extensions["database"].session() as session:
        row = session.get(AuditRecord, 4)
        row.details = '{"action":"nothing to see"}'
        row.hash = record_hash(row.prev_hash, row_values(row))
    problem = verify(app).problem
    assert (problem.seq, problem.kind) == (4, "changed")


def test_an_inserted_record_is_named(app):
    fill(app)
    # A careful forger makes room at 6 and links the new row properly to record 5.
    sql(app, "UPDATE audit_records SET seq = seq + 1000 WHERE seq > 5")
    sql(app, "UPDATE audit_records SET seq = seq - 999 WHERE seq > 1000")
    with app.extensions["database"].session() as session:
        prev = session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == 5))
        forged = {
            "seq": 6,
            "stream_id": "1-0",
            "at": session.scalar(select(AuditRecord.at).where(AuditRecord.seq == 5)),
            "kind": "operator",
            "details": '{"action":"grant_admin"}',
        }
        forged = {c: forged.get(c) for c in CHAINED_FIELDS}
        session.execute(
            insert(AuditRecord), [{**forged, "prev_hash": prev, "hash": record_hash(prev, forged)}]
        )
    problem = verify(app).problem
    assert (problem.seq, problem.kind) == (6, "inserted")
    result = run_verify_command(app)
    assert result.exit_code == 1 and "record 6 inserted" in result.output


def test_a_record_appended_behind_the_drainers_back_is_named(app):
    fill(app)
    sql(
        app,
        "INSERT INTO audit_records (seq, stream_id, at, kind, prev_hash, hash) "
        "VALUES (11, '2-0', '2026-01-01 00:00:00.000000', 'operator', :h, :h)",
        h="f" * 64,
    )
    problem = verify(app).problem
    assert (problem.seq, problem.kind) == (11, "inserted")


def test_a_deleted_record_is_named(app):
    fill(app)
    sql(app, "DELETE FROM audit_records WHERE seq = 3")
    problem = verify(app).problem
    assert (problem.seq, problem.kind) == (3, "deleted")
    result = run_verify_command(app)
    assert result.exit_code == 1 and "record 3 deleted" in result.output


def test_deleting_the_newest_records_is_caught_by_the_head_anchor(app):
    fill(app)
    sql(app, "DELETE FROM audit_records WHERE seq >= 9")
    problem = verify(app).problem
    assert (problem.seq, problem.kind) == (9, "deleted")


def test_purge_keeps_the_chain_verifiable(app):
    now_ms = int(time.time() * 1000)
    fill(app, 6, at_ms=now_ms - 400 * DAY_MS)  # older than the default 365 days
    fill(app, 4, at_ms=now_ms - 10 * DAY_MS)
    result = app.test_cli_runner().invoke(args=["audit", "purge"])
    assert result.exit_code == 0 and "purged 6 audit records through 6" in result.output
    with app.extensions["database"].session() as session:
        assert session.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq)).all() == [7, 8, 9, 10]
        assert session.scalar(select(AuditCheckpoint.through_seq)) == 6
    fill(app, 0)  # the purge's own operator event joins the chain
    report = verify(app)
    assert report.ok and report.first_seq == 7 and report.last_seq == 11
    sql(app, "DELETE FROM audit_records WHERE seq = 7")
    assert (verify(app).problem.seq, verify(app).problem.kind) == (7, "deleted")


def test_purging_everything_then_writing_more_continues_the_chain(app):
    fill(app, 3, at_ms=int(time.time() * 1000) - 400 * DAY_MS)
    assert app.test_cli_runner().invoke(args=["audit", "purge", "--days", "30"]).exit_code == 0
    fill(app, 2)
    report = verify(app)
    assert report.ok and (report.first_seq, report.last_seq) == (4, 6)


def test_purge_refuses_a_broken_chain(app):
    fill(app, 3, at_ms=int(time.time() * 1000) - 400 * DAY_MS)
    sql(app, "UPDATE audit_records SET kind = 'sms' WHERE seq = 2")
    result = app.test_cli_runner().invoke(args=["audit", "purge"])
    assert result.exit_code == 1 and "not purging" in result.output
