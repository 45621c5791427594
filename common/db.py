"""SQL through SQLAlchemy 2: one engine per process, a declarative base, Alembic for the schema.

Every timestamp column holds UTC without a zone (`timestamp without time zone` on PostgreSQL): the
application writes `utcnow()`, and a column's server default is `UtcNow()`, which is UTC on every
server whatever its local time. Ids of tables that grow with traffic are `BigId` (64-bit).
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import BigInteger, DateTime, Engine, Integer, create_engine, event, exc, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement

from common.files import private_file, sqlite_path
from config import ROOT

# A 64-bit id; SQLite keeps INTEGER so the column stays its (already 64-bit) autoincrementing rowid.
BigId = BigInteger().with_variant(Integer, "sqlite")

# pg_advisory_xact_lock key that serialises `upgrade` across processes and machines ("ussd-gw").
MIGRATION_LOCK_KEY = 0x757373642D6777
# A pooled server connection idle longer than this is pinged before use (see make_engine).
PING_AFTER_IDLE_S = 10.0


def utcnow() -> datetime:
    """Now in UTC, without a zone: how every timestamp of the gateway's tables is stored."""
    return datetime.now(UTC).replace(tzinfo=None)


class UtcNow(FunctionElement):
    """The server's current time in UTC, for server defaults (`now()` is local time on PostgreSQL)."""

    type = DateTime()
    inherit_cache = True


@compiles(UtcNow)
def _utcnow_default(_element, _compiler, **_kw) -> str:
    return "CURRENT_TIMESTAMP"  # SQLite's CURRENT_TIMESTAMP is UTC


@compiles(UtcNow, "postgresql")
def _utcnow_postgresql(_element, _compiler, **_kw) -> str:
    return "(CURRENT_TIMESTAMP AT TIME ZONE 'UTC')"


class Base(DeclarativeBase):
    """Base of every gateway table; Alembic's autogenerate reads its metadata."""


def make_engine(
    url: str, ping_after_idle_s: float = PING_AFTER_IDLE_S, isolation_level: str | None = None
) -> Engine:
    """An engine for `url` (with `isolation_level` on every connection of a server's pool, when
    given). A SQLite file is made 0600 before SQLite opens it (its folder 0700 when
    new; SQLite gives -wal and -shm the file's mode), with WAL and a busy timeout.

    A server's pooled connection that sat idle for `ping_after_idle_s` is pinged when checked out
    and replaced if the server has gone (a restart, a failover, an idle timeout), so no request gets
    a dead connection from the pool; one used more recently is taken as it is, without a round trip
    (under load a ping per checkout was one more round trip per request). A connection that breaks
    while in use fails that one transaction and SQLAlchemy refreshes the whole pool."""
    if url.startswith("sqlite:///"):
        path = sqlite_path(url)
        if path is not None:
            private_file(path)
        engine = create_engine(url, connect_args={"timeout": 15, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    options = {"isolation_level": isolation_level} if isolation_level else {}
    engine = create_engine(url, pool_size=5, max_overflow=10, **options)

    @event.listens_for(engine, "checkin")
    def _note_use(_dbapi_conn, record) -> None:
        record.info["used_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy) -> None:
        used_at = record.info.get("used_at")
        if used_at is None or time.monotonic() - used_at < ping_after_idle_s:
            return  # just connected, or in use moments ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as error:
            # The pool then discards this connection and checks out (or opens) another.
            raise exc.DisconnectionError(f"idle connection gone: {type(error).__name__}") from error

    return engine


class Database:
    """The engine and a session factory; `session()` commits on success and rolls back on error."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        # For one statement that needs no transaction around it: on a server that saves the BEGIN
        # and COMMIT round trips (PostgreSQL runs each statement atomically). A pool of its own:
        # switching a shared pool's connection to autocommit and back cost ~30 us per statement.
        self.autocommit = (
            make_engine(url, isolation_level="AUTOCOMMIT")
            if self.is_server
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        # Public so a package can listen to this database's sessions (e.g. "after_commit").
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_server(self) -> bool:
        """True for PostgreSQL, False for a SQLite file."""
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self.session_factory()
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to `revision` (the newest by default), in one transaction.

        Safe to run from several processes or machines at once: on PostgreSQL an advisory lock
        makes them take turns (the later ones find the schema current and do nothing), on a SQLite
        file a lock file does. Any URL works, `%` and all: Alembic gets the connection, not the URL.
        """
        from alembic import command
        from alembic.config import Config

        cfg = Config(str(ROOT / "alembic.ini"))
        cfg.set_main_option("script_location", str(ROOT / "migrations"))
        cfg.attributes["configure_logger"] = False
        with self._sqlite_file_lock(), self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)

    @contextmanager
    def _sqlite_file_lock(self) -> Iterator[None]:
        database = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if not database or database == ":memory:":
            yield
            return
        lock_path = Path(f"{database}.migrate-lock")
        private_file(lock_path)  # beside private SQLite files, private like them
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
