"""Shared fixtures: one real Redis and (on first use) one throwaway PostgreSQL cluster per test
process (per xdist worker), a migrated database per test on SQLite and on PostgreSQL, an app per test.

Every test that asks for `database_url` (directly, or through `settings`, `app`, `client`…) runs
twice, as `test_x[sqlite]` and `test_x[postgresql]`, each on a migrated database with no rows: SQLite
copies a file migrated once per process; PostgreSQL empties the one database it migrated per process
(and disconnects what the previous test left connected) before each test.
`TEST_DATABASES=sqlite` (or `postgresql`) runs one backend only; `TEST_POSTGRES=required` (set by
.ci/run) turns "no PostgreSQL on this machine" from a skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import redis

from config import Settings
from tests.support import PostgresCluster, PostgresUnavailable, RedisServer, free_port

os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# argon2 at its real cost only where a test measures it (tests/security/test_login_flood.py).
os.environ.setdefault("PASSWORD_HASH_PROFILE", "cheapest")
# Most tests point the gateway at a port where no core listens: nothing answers there however
# often it is asked, so its tries are not spaced out (a dial would wait 0.15 s on the pauses alone).
# Tests of the pauses build their CoreClient with their own.
os.environ.setdefault("CORE_RETRY_BACKOFF_MS", "0")

SERVICE = "*384*123#"
PHONE = "+254712345678"
DATABASES = [name for name in os.environ.get("TEST_DATABASES", "sqlite,postgresql").split(",") if name]
POSTGRES_DATABASE = "gateway_test"


def _remember_url_builders() -> None:
    """Werkzeug compiles two URL-building functions (`ast` + `compile`) for every rule of every app:
    two thirds of building an app, and the tests build one per test. A builder is a pure function
    of the rule's shape (it reads the rule's converters through its `self` argument when called), so
    one compiled per shape serves every app of this test process alike."""
    from werkzeug.routing.rules import Rule

    compile_builder = Rule._compile_builder
    compiled: dict[tuple, object] = {}

    def remembered(self: Rule, append_unknown: bool = True):
        key = (
            self.rule,
            tuple(self._trace),
            append_unknown,
            tuple(sorted((name, repr(value)) for name, value in (self.defaults or {}).items())),
            tuple(sorted((name, type(converter)) for name, converter in self._converters.items())),
        )
        if key not in compiled:
            compiled[key] = compile_builder(self, append_unknown)
        return compiled[key]

    remembered.__wrapped__ = compile_builder
    Rule._compile_builder = remembered


_remember_url_builders()


def _sql_free(item: pytest.Item) -> bool:
    """Marked `sql_free` (usually a whole module) and not `uses_sql` (one test of it)."""
    return item.get_closest_marker("sql_free") is not None and item.get_closest_marker("uses_sql") is None


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `sql_free` runs on SQLite only: its behaviour never reaches the gateway's
    database, so a PostgreSQL run would repeat it to no purpose (`pytest_runtest_call` below fails
    it when its body runs a statement after all)."""
    if _sql_free(metafunc.definition) and "database_url" in metafunc.fixturenames:
        metafunc.definition.add_marker(pytest.mark.parametrize("database_url", ["sqlite"], indirect=True))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """For a test marked `sql_free`: fail it if its body sends any SQL to its database (fixtures
    may: seeding menus, creating operators)."""
    url = getattr(item, "funcargs", {}).get("database_url")
    if not _sql_free(item) or url is None:
        return (yield)
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if conn.engine.url.render_as_string(hide_password=False) == url:
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        result = yield
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    if statements:
        pytest.fail(f"marked sql_free but ran {len(statements)} SQL statements, e.g. {statements[0]!r}")
    return result


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark each database test with its backend: `-m postgresql` / `-m sqlite` select one half."""
    callspec = getattr(item, "callspec", None)
    for backend in ("sqlite", "postgresql"):
        if callspec is not None and backend in callspec.params.values():
            item.add_marker(backend)


@pytest.hookimpl(trylast=True)  # after `-m` has deselected: the shares are of what runs
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items[:] = _spread_heavy_first(items, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))


def _spread_heavy_first(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """The slow, browser and long tests first in every worker's share, the rest after them in their
    modules' order. `--dist worksteal` hands each worker one contiguous share of the list (the
    first gets len // workers, the next (len - that) // (workers - 1), ...) and idle workers steal
    from the end of busy ones' shares: heavy tests at the head of each share start at once on every
    worker, and none is left to end the run late on one worker while the others wait."""

    def weight(item: pytest.Item) -> tuple[bool, bool, bool]:
        return tuple(item.get_closest_marker(name) is None for name in ("slow", "browser", "long"))

    heavy = sorted((item for item in items if not all(weight(item))), key=weight)
    light = [item for item in items if all(weight(item))]
    ordered: list[pytest.Item] = []
    for worker in range(workers):
        share = (len(items) - len(ordered)) // (workers - worker)
        own = heavy[worker::workers]
        ordered += own + light[: max(share - len(own), 0)]
        del light[: max(share - len(own), 0)]
    return ordered + light


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture()
def redis_client(redis_server: RedisServer) -> redis.Redis:
    client = redis_server.client()
    client.flushdb()
    return client


def _migrate(url: str) -> None:
    from common.db import Database

    database = Database(url)
    database.upgrade()
    database.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the newest revision, once per test process."""
    path = tmp_path_factory.mktemp("template") / "gateway.db"
    _migrate(f"sqlite:///{path}")
    with closing(sqlite3.connect(path)) as conn:  # fold the WAL into the file: a copy of it is whole
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster for this test process, with the tests' database migrated once."""
    try:
        cluster = PostgresCluster().start()
    except PostgresUnavailable as exc:
        if os.environ.get("TEST_POSTGRES") == "required":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        cluster.create_database(name=POSTGRES_DATABASE)
        _migrate(cluster.url(POSTGRES_DATABASE))
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database holding no rows, for this test alone, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "gateway.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    cluster.empty_database(POSTGRES_DATABASE)
    return cluster.url(POSTGRES_DATABASE)


@pytest.fixture(params=DATABASES)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all (migrations not run), on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    name = cluster.create_database()
    yield cluster.url(name)
    cluster.drop_database(name)


@pytest.fixture()
def settings(redis_server: RedisServer, redis_client: redis.Redis, database_url: str) -> Settings:
    # A port nothing listens on: a test that wants the core service starts one and says so, and no
    # test reaches a developer's own `make run` on 8010.
    return Settings.from_env(
        redis_url=redis_server.url,
        database_url=database_url,
        log_level="WARNING",
        core_url=f"http://127.0.0.1:{free_port()}",
    )


@pytest.fixture()
def app(settings: Settings):
    from app import create_app

    application = create_app(settings)
    application.config["TESTING"] = True
    return application


@pytest.fixture()
def seeded_menus(app) -> None:
    """The YAML trees seeded as menu versions in SQL and announced in Redis, as `flask --app app
    menus seed` does on a deployment; without it SQL holds no menu version."""
    assert app.extensions["menu_store"].start()


@pytest.fixture()
def client(app):
    return app.test_client()


class Dialler:
    """Plays a phone against the Africa's Talking callback: keeps the transcript like AT does."""

    def __init__(
        self, client, phone: str = PHONE, session_id: str = "ATUid_test0001", service: str = SERVICE
    ) -> None:
        self.client = client
        self.phone = phone
        self.session_id = session_id
        self.service = service
        self.keys: list[str] = []

    def post(self, text: str) -> str:
        response = self.client.post(
            "/ussd/africastalking",
            data={
                "sessionId": self.session_id,
                "serviceCode": self.service,
                "phoneNumber": self.phone,
                "networkCode": "63902",
                "text": text,
            },
        )
        assert response.status_code == 200
        assert response.mimetype == "text/plain"
        return response.get_data(as_text=True)

    def dial(self, *deep_keys: str) -> str:
        self.keys = list(deep_keys)
        return self.post("*".join(self.keys))

    def press(self, key: str) -> str:
        self.keys.append(key)
        return self.post("*".join(self.keys))


@pytest.fixture()
def phone(client) -> Dialler:
    return Dialler(client)
