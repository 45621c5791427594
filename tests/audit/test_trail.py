"""Hops and other events reach the SQL trail through Redis, privately and exactly once."""

from __future__ import annotations

import json

import pytest
import redis
from sqlalchemy import func, select

from audit.drain import Drainer, drain_client
from audit.hops import HopAuditor
from audit.trail import STREAM
from audit.verify import verify_chain
from gateway.hop import Hop
from records.audit import AuditRecord
from tests.hops import at_hop

PHONE = "+254712345678"


def hop(text: str, session: str = "S1", phone: str = PHONE) -> Hop:
    return at_hop(session, phone, "*384*123#", "63902", text)


def drain(app) -> Drainer:
    settings = app.extensions["settings"]
    drainer = Drainer(drain_client(settings.redis_url), app.extensions["database"])
    drainer.drain_all()
    return drainer


def rows(app) -> list[AuditRecord]:
    with app.extensions["database"].session() as session:
        return list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))


def test_every_hop_is_one_record_without_the_transcript_or_the_phone(app):
    hops = app.extensions["hops"]
    for text in ("", "7", "7*1", "7*1"):  # the last one is a replay
        hops.handle(hop(text))
    assert app.extensions["redis"].xlen(STREAM) == 4
    drain(app)
    records = rows(app)
    assert [r.seq for r in records] == [1, 2, 3, 4]
    assert [r.outcome for r in records] == ["start", "option", "option", "replay"]
    assert [r.node for r in records] == ["main", "help", "help_support", "help_support"]
    first = records[0]
    assert first.tree_id == "ecitizen" and first.tree_version and first.language == "en"
    assert records[1].journey == "help" and first.journey is None
    assert first.latency_ms is not None and first.latency_ms >= 0
    assert len(first.phone_hash) == 64
    stored = json.dumps(
        [[getattr(r, c.name) for c in AuditRecord.__table__.columns] for r in records], default=str
    )
    assert PHONE not in stored and "712345678" not in stored and "7*1" not in stored
    assert app.extensions["redis"].xlen(STREAM) == 0  # acknowledged and deleted once in SQL
    assert verify_chain(app.extensions["database"], app.extensions["redis"]).ok


def test_record_pseudonymises_the_phone_and_drops_secrets(app):
    trail = app.extensions["audit"]
    trail.record("sms", message_id="ATXid_1", status="sent", cost="KES 0.8000", phone=PHONE, body="Hi")
    trail.record(
        "backend", operation="register", ok=False, error="timeout", national_id="12345678", pin="1234"
    )
    drain(app)
    sms, backend = rows(app)
    assert sms.kind == "sms" and sms.phone_hash == app.extensions["audit"].pseudonyms.of(PHONE)
    assert json.loads(sms.details) == {"message_id": "ATXid_1", "status": "sent", "cost": "KES 0.8000"}
    assert json.loads(backend.details) == {"operation": "register", "ok": "0", "error": "timeout"}


def test_a_drained_batch_is_never_written_twice(app):
    for i in range(5):
        app.extensions["audit"].record("operator", action="publish", actor=f"op{i}")
    drainer = Drainer(drain_client(app.extensions["settings"].redis_url), app.extensions["database"])
    entries = drainer.read()
    drainer.write(entries)  # committed, but the process "dies" before XACK
    assert drainer.drain_all() == 0  # the same entries come back as pending and are skipped
    assert len(rows(app)) == 5
    assert app.extensions["redis"].xlen(STREAM) == 0


def test_the_hop_listener_never_raises_into_the_hop(app):
    hops = app.extensions["hops"]
    real = hops.events.auditor
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.05)
    broken_trail = type(real.trail)(dead, real.trail.pseudonyms)
    hops.events.auditor = HopAuditor(broken_trail, app.extensions["trees"])
    assert hops.handle(hop("")).outcome == "start"

    class Exploding:
        def add(self, _event):
            raise RuntimeError("boom")

        pseudonyms = None  # event() fails before add() is reached

    hops.events.auditor = HopAuditor(Exploding(), app.extensions["trees"])  # type: ignore[arg-type]
    assert hops.handle(hop("7")).outcome == "option"


def test_audit_disabled_means_no_hop_events(settings, redis_client):
    from dataclasses import replace

    from app import create_app

    app = create_app(replace(settings, audit_enabled=False))
    app.extensions["hops"].handle(hop(""))
    kinds = [fields[b"kind"] for _, fields in redis_client.xrange(STREAM)]
    assert b"hop" not in kinds


@pytest.mark.slow
def test_ten_thousand_hops_all_reach_the_trail(app):
    hops = app.extensions["hops"]
    keys = ("", "7", "7*1", "7*1*0", "7*1*0*00")
    for n in range(2000):
        for text in keys:
            hops.handle(hop(text, session=f"B{n}", phone=f"+2547{n % 100:02d}{n:06d}"[:13]))
    drainer = drain(app)
    del drainer
    with app.extensions["database"].session() as session:
        assert session.scalar(select(func.count(AuditRecord.seq))) == 10_000
        assert session.scalar(select(func.count(func.distinct(AuditRecord.session_id)))) == 2000
        assert session.scalar(select(func.count(AuditRecord.seq)).where(AuditRecord.outcome == "replay")) == 0
    assert verify_chain(app.extensions["database"], app.extensions["redis"]).ok
