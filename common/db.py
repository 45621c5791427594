"""SQL through SQLAlchemy 2: one engine per process, a declarative base, Alembic for the schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from common.files import private_file, sqlite_path
from config import ROOT


class Base(DeclarativeBase):
    """Base of every gateway table; Alembic's autogenerate reads its metadata."""


def make_engine(url: str) -> Engine:
    """An engine for `url`. A SQLite file is made 0600 before SQLite opens it (its folder 0700 when
    new; SQLite gives -wal and -shm the file's mode), with WAL and a busy timeout."""
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
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


class Database:
    """The engine and a session factory; `session()` commits on success and rolls back on error."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        # Public so a package can listen to this database's sessions (e.g. "after_commit").
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)

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

    def upgrade(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        cfg = Config(str(ROOT / "alembic.ini"))
        cfg.set_main_option("script_location", str(ROOT / "migrations"))
        cfg.set_main_option("sqlalchemy.url", self.url)
        cfg.attributes["configure_logger"] = False
        command.upgrade(cfg, "head")
