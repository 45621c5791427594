"""The gateway's SQL on SQLite and PostgreSQL: the migrated schema is the models', URLs with any
password work and never show it, migrations from many nodes at once take turns, timestamps are UTC
whatever the server's or the process's time zone, and ids outgrow 32 bits."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime, timedelta
from urllib.parse import quote

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import DateTime, inspect, select, text
from sqlalchemy.engine import make_url

import records
from common.db import Database, UtcNow, make_engine, utcnow
from config import Settings
from records.audit import AuditCheckpoint, AuditRecord
from records.menus import MenuVersion
from records.operators import OperatorAction
from records.sms import SmsDeliveryReport, SmsInbound, SmsMessage, SmsStatusChange
from records.ussd import UssdSessionEnd
from tools.run_all import printable_url

PASSWORD = "p@ss%w:rd/#1 '"  # every character a URL or an .ini file treats specially
BEYOND_32_BITS = 2**31 + 10
_roles = itertools.count(1)


def _head(database: Database) -> str | None:
    with database.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from config import ROOT

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


def test_the_migrated_schema_is_the_models(database_url):
    database = Database(database_url)
    with database.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), records.Base.metadata)
    assert differences == []
    assert _head(database) == _head_revision()


def test_every_server_default_timestamp_is_utc():
    defaults = [
        (table.name, column.name, column.server_default.arg)
        for table in records.Base.metadata.tables.values()
        for column in table.columns
        if column.server_default is not None and isinstance(column.type, DateTime)
    ]
    assert defaults, "the tables have server defaults to check"
    assert [(t, c) for t, c, arg in defaults if not isinstance(arg, UtcNow)] == []


@pytest.fixture
def secret_database_url(request, empty_database_url, tmp_path):
    """An empty database whose URL needs decoding: a `%` in the SQLite path; on PostgreSQL a role
    that must log in with `PASSWORD` (URL-encoded in the URL)."""
    if empty_database_url.startswith("sqlite"):
        folder = tmp_path / "100%_sure"
        folder.mkdir()
        return f"sqlite:///{folder / 'gateway.db'}"
    cluster = request.getfixturevalue("postgres_cluster")
    role = f"gw_secret_{next(_roles)}"
    name = make_url(empty_database_url).database
    admin = cluster.admin()
    admin.execute(
        f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD.replace(chr(39), chr(39) * 2)}' IN ROLE password_login"
    )
    admin.execute(f'ALTER DATABASE "{name}" OWNER TO {role}')
    admin.execute(f"GRANT ALL ON SCHEMA public TO {role}")
    url = f"postgresql+psycopg://{role}:{quote(PASSWORD, safe='')}@127.0.0.1:{cluster.port}/{name}"
    # The server really checks the password: a wrong one is refused.
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(f"host=127.0.0.1 port={cluster.port} user={role} dbname={name} password=wrong")
    return url


def test_upgrade_works_with_a_url_that_holds_a_percent(secret_database_url):
    database = Database(secret_database_url)
    database.upgrade()
    assert _head(database) == _head_revision()
    assert "sms_outbox" in inspect(database.engine).get_table_names()


def test_the_password_is_never_printed(secret_database_url, redis_server):
    from app import create_app

    app = create_app(Settings.from_env(redis_url=redis_server.url, database_url=secret_database_url))
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "is up to date" in result.output
    shown = printable_url(secret_database_url)
    for secret in (PASSWORD, quote(PASSWORD, safe=""), "p@ss"):
        assert secret not in result.output and secret not in shown
    if make_url(secret_database_url).password:
        assert "***" in result.output and "***" in shown


def test_printable_url_masks_passwords_and_survives_garbage():
    assert (
        printable_url("postgresql+psycopg://gw:s3cr%40t@db:5432/gw")
        == "postgresql+psycopg://gw:***@db:5432/gw"
    )
    assert printable_url("sqlite:////srv/var/gateway.db") == "sqlite:////srv/var/gateway.db"
    assert "s3cret" not in printable_url("not a url s3cret")


def test_upgrades_from_several_nodes_at_once_all_succeed(empty_database_url):
    nodes = 4
    start = threading.Barrier(nodes)
    errors: list[BaseException] = []

    def node() -> None:
        database = Database(empty_database_url)
        start.wait(10)
        try:
            database.upgrade()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            database.engine.dispose()

    threads = [threading.Thread(target=node) for _ in range(nodes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    database = Database(empty_database_url)
    assert _head(database) == _head_revision()
    with database.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM alembic_version")) == 1


@pytest.fixture
def nairobi_clock(monkeypatch):
    """This process in Nairobi's local time (UTC+3), as a server in Kenya would be."""
    monkeypatch.setenv("TZ", "Africa/Nairobi")
    time.tzset()
    assert datetime.now() - utcnow() > timedelta(hours=2)
    yield
    monkeypatch.undo()
    time.tzset()


def _close_to_utc_now(moment: datetime) -> bool:
    return abs(moment - utcnow()) < timedelta(minutes=5)


def test_timestamps_are_utc_whatever_the_local_time(database_url, nairobi_clock):
    database = Database(database_url)
    with database.engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # the server's own clock is in Nairobi too
            assert conn.scalar(text("SHOW timezone")) == "Africa/Nairobi"
        # Rows written without their timestamp: the server default fills it.
        conn.execute(
            text("INSERT INTO operator_actions (operator_email, action, detail) VALUES ('a@b.c', 'x', '{}')")
        )
        conn.execute(
            text(
                "INSERT INTO ussd_session_ends (session_id, aggregator, service_code, network_code, status)"
                " VALUES ('ATUid_utc', 'africastalking', '*384*123#', '63902', 'Success')"
            )
        )
    with database.session() as session:  # and rows the application writes
        session.add(MenuVersion(tree_id="t", version="v1", number=1, document={}, author="a@b.c"))
        session.add(SmsMessage(dedupe_key="utc", phone="+254712345678", template="help", params={}))
    with database.session() as session:
        stamps = {
            "operator_actions.at (server)": session.scalar(select(OperatorAction.at)),
            "ussd_session_ends.received_at (server)": session.scalar(select(UssdSessionEnd.received_at)),
            "menu_versions.created_at": session.scalar(select(MenuVersion.created_at)),
            "sms_outbox.created_at": session.scalar(select(SmsMessage.created_at)),
        }
    assert {name: moment for name, moment in stamps.items() if not _close_to_utc_now(moment)} == {}


def test_ids_outgrow_32_bits(database_url):
    database = Database(database_url)
    now = utcnow()
    with database.session() as session:
        if session.bind.dialect.name == "postgresql":
            for table in (
                "sms_outbox",
                "sms_status_history",
                "sms_inbound",
                "sms_delivery_reports",
                "ussd_session_ends",
            ):
                session.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {BEYOND_32_BITS})")
                )
        else:  # SQLite hands out max(rowid) + 1: start each table past 32 bits
            message = SmsMessage(id=BEYOND_32_BITS, dedupe_key="seed", phone="+254700000000", template="help")
            session.add(message)
            session.flush()
            session.add(SmsStatusChange(id=BEYOND_32_BITS, message_id=message.id, status="queued"))
            session.add(
                SmsInbound(id=BEYOND_32_BITS, provider_id="seed", phone="+254700000000", command="HELP")
            )
            session.add(SmsDeliveryReport(id=BEYOND_32_BITS, provider_message_id="seed", status="Success"))
            session.add(
                UssdSessionEnd(
                    id=BEYOND_32_BITS,
                    session_id="seed",
                    service_code="*384*123#",
                    network_code="63902",
                    status="Success",
                )
            )
    with database.session() as session:
        message = SmsMessage(dedupe_key="big", phone="+254712345678", template="help", params={})
        session.add(message)
        session.flush()
        change = SmsStatusChange(message_id=message.id, status="queued")
        inbound = SmsInbound(provider_id="big", phone="+254712345678", command="HELP", reply_id=message.id)
        report = SmsDeliveryReport(provider_message_id="big", status="Success", message_id=message.id)
        end = UssdSessionEnd(
            session_id="big", service_code="*384*123#", network_code="63902", status="Success"
        )
        session.add_all([change, inbound, report, end])
        session.flush()
        ids = {"sms_outbox": message.id, "sms_status_history": change.id, "sms_inbound": inbound.id,
               "sms_delivery_reports": report.id, "ussd_session_ends": end.id}  # fmt: skip
        # The audit chain's position is the drainer's to assign.
        session.add(
            AuditRecord(seq=2**40, stream_id="1-0", at=now, kind="hop", prev_hash="0" * 64, hash="1" * 64)
        )
        session.add(AuditCheckpoint(through_seq=2**40, through_hash="1" * 64, purged=1, created_at=now))
    assert {table: id_ for table, id_ in ids.items() if id_ <= 2**31} == {}
    with database.session() as session:
        assert (
            session.scalar(
                select(SmsStatusChange.message_id).where(SmsStatusChange.id == ids["sms_status_history"])
            )
            == ids["sms_outbox"]
        )
        assert session.scalar(select(AuditRecord.seq)) == 2**40
        assert session.scalar(select(AuditCheckpoint.through_seq)) == 2**40


def test_migration_turns_local_time_written_by_now_into_utc(postgres_cluster, nairobi_clock):
    """Rows that `server_default=now()` wrote in a Nairobi server's local time are UTC after 0007;
    a draft an operator saved (the application wrote UTC) is left alone."""
    name = postgres_cluster.create_database()
    database = Database(postgres_cluster.url(name))
    database.upgrade("0006")
    operator_saved = utcnow() - timedelta(hours=1)
    with database.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO operator_actions (operator_email, action, detail) VALUES ('a@b.c', 'x', '{}')")
        )
        conn.execute(
            text(
                "INSERT INTO menu_drafts (tree_id, document, journeys, revision, updated_by, updated_at)"
                " VALUES"
                " ('seeded', '{}', '{}', 1, 'system', now()),"
                " ('edited', '{}', '{}', 2, 'editor@example.org', :saved)"
            ),
            {"saved": operator_saved},
        )
        local = conn.scalar(text("SELECT at FROM operator_actions"))
    assert not _close_to_utc_now(local), "before 0007 the default wrote local time"
    database.upgrade()
    with database.engine.connect() as conn:
        assert _close_to_utc_now(conn.scalar(text("SELECT at FROM operator_actions")))
        drafts = dict(conn.execute(text("SELECT tree_id, updated_at FROM menu_drafts")).all())
    assert _close_to_utc_now(drafts["seeded"])
    assert drafts["edited"] == operator_saved
    database.engine.dispose()
    postgres_cluster.drop_database(name)


@pytest.fixture()
def server_database(postgres_cluster):
    name = postgres_cluster.create_database()
    yield postgres_cluster.url(name)
    postgres_cluster.drop_database(name)


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT pg_backend_pid()"))


def test_a_pooled_connection_the_server_dropped_while_idle_is_replaced_before_use(
    postgres_cluster, server_database
):
    """A restart, a failover or an idle timeout kills a connection the pool keeps: the next
    request gets a live one, not an error."""
    engine = make_engine(server_database, ping_after_idle_s=0.0)
    try:
        dropped = _backend_pid(engine)
        postgres_cluster.admin().execute("SELECT pg_terminate_backend(%s)", (dropped,))
        gone = postgres_cluster.admin().execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (dropped,)
        )
        deadline = time.monotonic() + 10
        while gone.fetchone()[0] and time.monotonic() < deadline:
            gone = postgres_cluster.admin().execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (dropped,)
            )
        assert _backend_pid(engine) != dropped  # no OperationalError: the pool replaced it
    finally:
        engine.dispose()


def test_a_connection_used_moments_ago_is_not_pinged_again(server_database, monkeypatch):
    engine = make_engine(server_database, ping_after_idle_s=60.0)
    pings: list[object] = []
    monkeypatch.setattr(engine.dialect, "do_ping", lambda dbapi_conn: pings.append(dbapi_conn) or True)
    try:
        first = _backend_pid(engine)
        assert [_backend_pid(engine) for _ in range(3)] == [first] * 3
        assert pings == []
    finally:
        engine.dispose()
    idle_at_once = make_engine(server_database, ping_after_idle_s=0.0)
    monkeypatch.setattr(idle_at_once.dialect, "do_ping", lambda dbapi_conn: pings.append(dbapi_conn) or True)
    try:
        for _ in range(3):
            _backend_pid(idle_at_once)
        assert len(pings) == 2  # every checkout after the first (a new connection needs none)
    finally:
        idle_at_once.dispose()
