"""Real servers from Debian's packages, on 127.0.0.1 only: Redis (primary, replica, Sentinel, Cluster
node), PostgreSQL and HAProxy. `make cluster`, `make drill` and the tests in tests/ops use these.

Each server is a `Managed` process with its own data folder and log file; nothing binds anything
but 127.0.0.1. PostgreSQL refuses to run as root, so as root it runs as `nobody` in a folder that
user owns.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def binary(name: str) -> str:
    """A Debian-packaged server binary (`redis-server`, `redis-sentinel`, `redis-cli`, `haproxy`)."""
    for folder in ("/usr/bin", "/usr/sbin"):
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: apt-get install redis-server redis-sentinel haproxy postgresql")
    return found


def pg_binary(name: str) -> str:
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    if candidates:
        return str(candidates[0])
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: apt-get install postgresql")
    return found


def port_open(port: int, host: str = LOOPBACK) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return True
        time.sleep(interval)
    try:
        return bool(predicate())
    except Exception:
        return False


@dataclass
class Managed:
    """One server process: started, stopped, killed, restarted with the same command."""

    name: str
    command: list[str]
    port: int | None
    log_path: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    run_as: str | None = None  # a user name when the process must not run as root
    # Writes what the process needs on disk (a config file) right before each start.
    prepare: Callable[[], None] | None = field(default=None, repr=False)
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self, wait_s: float = 30.0) -> Managed:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.prepare is not None:
            self.prepare()
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it open
        extra: dict[str, object] = {}
        if self.run_as and os.geteuid() == 0:
            extra = {"user": self.run_as, "group": _group_of(self.run_as), "extra_groups": []}
        self.process = subprocess.Popen(
            self.command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,  # a Ctrl-C in the terminal reaches the supervisor only
            **extra,  # type: ignore[arg-type]
        )
        log.close()
        if self.port is not None and not wait_for(
            lambda: self.process.poll() is None and port_open(self.port), wait_s
        ):
            tail = self.log_path.read_text(errors="replace")[-1500:]
            self.stop()
            raise RuntimeError(f"{self.name} did not start on port {self.port}:\n{tail}")
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def send(self, signum: int) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL the process and everything it started (its process group)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Ask politely (`signum`), then kill after `timeout` seconds."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.send(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        # Children a killed parent left behind (granian workers, say) go too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def restart(self, wait_s: float = 30.0) -> Managed:
        self.stop()
        return self.start(wait_s)


def _group_of(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid


def _give_to(path: Path, user: str) -> None:
    """Let `user` own `path` (and reach it) when we run as root."""
    if os.geteuid() != 0:
        return
    import pwd

    entry = pwd.getpwnam(user)
    for parent in reversed(path.parents):
        if parent.exists() and parent.stat().st_uid == 0 and (parent.stat().st_mode & 0o005) != 0o005:
            # A private temporary folder above the data dir: let others traverse it, not list it.
            with contextlib.suppress(PermissionError):
                parent.chmod(parent.stat().st_mode | 0o001)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


# -- Redis -----------------------------------------------------------------------------------------
def redis_server(
    name: str,
    port: int,
    folder: Path,
    password: str = "",
    replica_of: int | None = None,
    cluster: bool = False,
) -> Managed:
    """A redis-server on 127.0.0.1:`port`, `noeviction`, no persistence (a drill's data is
    throwaway); a replica of 127.0.0.1:`replica_of`, or a Cluster node."""
    command = [
        binary("redis-server"),
        "--port",
        str(port),
        "--bind",
        LOOPBACK,
        "--dir",
        str(folder),
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxmemory-policy",
        "noeviction",
        "--loglevel",
        "warning",
        "--logfile",
        "",
    ]
    if password:
        command += ["--requirepass", password, "--masterauth", password]
    if replica_of is not None:
        command += ["--replicaof", LOOPBACK, str(replica_of)]
    if cluster:
        command += [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(folder / "nodes.conf"),
            "--cluster-node-timeout",
            "2000",
        ]
    return Managed(
        name, command, port, folder / "server.log", prepare=lambda: folder.mkdir(parents=True, exist_ok=True)
    )


def sentinel_server(
    name: str,
    port: int,
    folder: Path,
    primary_port: int,
    service: str = "mymaster",
    password: str = "",
    sentinel_password: str = "",
    down_after_ms: int = 1000,
) -> Managed:
    """A redis-sentinel watching 127.0.0.1:`primary_port` as `service` (quorum 2 of 3)."""
    lines = [
        f"port {port}",
        f"bind {LOOPBACK}",
        f"dir {folder}",
        'logfile ""',
        "loglevel warning",
        f"sentinel monitor {service} {LOOPBACK} {primary_port} 2",
        f"sentinel down-after-milliseconds {service} {down_after_ms}",
        f"sentinel failover-timeout {service} 10000",
        f"sentinel parallel-syncs {service} 1",
    ]
    if password:
        lines.append(f"sentinel auth-pass {service} {password}")
    if sentinel_password:
        lines += [f"requirepass {sentinel_password}", f"sentinel sentinel-pass {sentinel_password}"]
    config = folder / "sentinel.conf"  # Sentinel rewrites its own file (what it learnt): keep it

    def write_config() -> None:
        if not config.exists():
            folder.mkdir(parents=True, exist_ok=True)
            config.write_text("\n".join(lines) + "\n")
            config.chmod(0o600)

    return Managed(
        name, [binary("redis-sentinel"), str(config)], port, folder / "sentinel.log", prepare=write_config
    )


def create_cluster(ports: list[int], password: str = "", timeout: float = 30.0) -> None:
    """Join the Cluster nodes on `ports` into one cluster of masters (slots split evenly)."""
    command = [binary("redis-cli"), "--cluster", "create", *(f"{LOOPBACK}:{p}" for p in ports)]
    command += ["--cluster-replicas", "0", "--cluster-yes"]
    env = {**os.environ, "REDISCLI_AUTH": password} if password else None
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)

    def ready() -> bool:
        for port in ports:
            out = subprocess.run(
                [binary("redis-cli"), "-p", str(port), "cluster", "info"],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            ).stdout
            if "cluster_state:ok" not in out:
                return False
        return True

    if not wait_for(ready, timeout, 0.2):
        raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")


# -- PostgreSQL ------------------------------------------------------------------------------------
class Postgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1:`port` (TCP only, password auth)."""

    def __init__(self, folder: Path, port: int, user: str = "gateway", password: str = "") -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = port
        self.user = user
        self.password = password
        self.run_as = "nobody" if os.geteuid() == 0 else None
        command = [
            pg_binary("postgres"),
            "-D",
            str(self.data),
            "-p",
            str(port),
            "-c",
            f"listen_addresses={LOOPBACK}",
            "-c",
            "unix_socket_directories=",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=200",
        ]
        self.server = Managed("postgresql", command, port, folder / "postgres.log", run_as=self.run_as)

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        from urllib.parse import quote

        return f"{driver}://{self.user}:{quote(self.password, safe='')}@{LOOPBACK}:{self.port}/{database}"

    def init(self) -> Postgres:
        if (self.data / "PG_VERSION").exists():
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(mode=0o700, exist_ok=True)
        pwfile = self.folder / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self.run_as:
            _give_to(self.folder, self.run_as)
        extra: dict[str, object] = {}
        if self.run_as:
            extra = {"user": self.run_as, "group": _group_of(self.run_as), "extra_groups": []}
        subprocess.run(
            [
                pg_binary("initdb"),
                "-D",
                str(self.data),
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **extra,  # type: ignore[arg-type]
        )
        pwfile.unlink()
        return self

    def start(self) -> Postgres:
        self.server.start()
        if not wait_for(self._accepts, 30, 0.1):
            raise RuntimeError("PostgreSQL did not accept connections")
        return self

    def _accepts(self) -> bool:
        import psycopg

        with psycopg.connect(self.url("postgres", "postgresql"), connect_timeout=1):
            return True

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres", "postgresql"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        self.server.stop(signal.SIGINT)  # "fast" shutdown: roll back open transactions, then exit

    def restart(self) -> None:
        self.stop()
        self.start()


# -- HAProxy ---------------------------------------------------------------------------------------
def ussd_busy_response() -> str:
    """What HAProxy answers a USSD callback when no node can (all unready, or none answered in
    time): the gateway's own polite "busy" END with HTTP 200, never a 5xx to the aggregator."""
    from gateway.replies import polite

    body = f"END {polite('busy')}"
    return (
        "HTTP/1.0 200 OK\r\n"
        "Cache-Control: no-cache\r\n"
        "Connection: close\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body.encode())}\r\n"
        "\r\n"
        f"{body}"
    )


def haproxy_config(
    port: int, servers: list[tuple[str, int]], busy_file: Path, stats_port: int | None = None
) -> str:
    """HAProxy in front of the gateway nodes: health-checks `/readyz`, retries a hop that hit a dead
    node on another one (a repeated hop is answered from the session's replay, never run twice),
    and answers USSD callbacks it cannot place with a polite END (`busy_file`) instead of a 5xx."""
    lines = [
        "global",
        "    maxconn 4096",
        "defaults",
        "    mode http",
        "    timeout connect 1s",
        "    timeout client 30s",
        "    timeout server 15s",
        "    timeout http-request 10s",
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response response-timeout 503",
        "frontend public",
        f"    bind {LOOPBACK}:{port}",
        "    option http-buffer-request",
        "    acl ussd_callback path_beg /ussd/",
        "    use_backend ussd if ussd_callback",
        "    default_backend gateways",
        "backend gateways",
        "    balance roundrobin",
        "    option httpchk GET /readyz",
        "    http-check expect status 200",
        "    default-server inter 500ms fastinter 250ms downinter 500ms fall 2 rise 2",
    ]
    lines += [f"    server {name} {LOOPBACK}:{p} check" for name, p in servers]
    lines += ["backend ussd", "    balance roundrobin"]
    lines += [f"    errorfile {code} {busy_file}" for code in (500, 502, 503, 504)]
    lines += [f"    server {name} {LOOPBACK}:{p} track gateways/{name}" for name, p in servers]
    if stats_port:
        lines += [
            "frontend stats",
            f"    bind {LOOPBACK}:{stats_port}",
            "    stats enable",
            "    stats uri /",
        ]
    return "\n".join(lines) + "\n"


def haproxy_server(port: int, servers: list[tuple[str, int]], folder: Path, stats_port: int | None = None):
    config = folder / "haproxy.cfg"
    busy = folder / "ussd-busy.http"

    def write_config() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        busy.write_text(ussd_busy_response())
        config.write_text(haproxy_config(port, servers, busy, stats_port))

    command = [binary("haproxy"), "-db", "-f", str(config)]
    return Managed("haproxy", command, port, folder / "haproxy.log", prepare=write_config)


# -- groups ----------------------------------------------------------------------------------------
class SentinelGroup:
    """A Redis primary, one replica and three Sentinels: the queue role's production shape."""

    def __init__(
        self,
        folder: Path,
        ports: list[int],
        service: str = "mymaster",
        password: str = "",
        sentinel_password: str = "",
        down_after_ms: int = 1000,
    ) -> None:
        primary, replica, *sentinels = ports
        self.service = service
        self.password = password
        self.sentinel_password = sentinel_password
        self.data = [
            redis_server("redis primary", primary, folder / f"redis-{primary}", password),
            redis_server("redis replica", replica, folder / f"redis-{replica}", password, replica_of=primary),
        ]
        self.sentinels = [
            sentinel_server(
                f"sentinel {n}",
                port,
                folder / f"sentinel-{port}",
                primary,
                service,
                password,
                sentinel_password,
                down_after_ms,
            )
            for n, port in enumerate(sentinels, 1)
        ]

    @property
    def servers(self) -> list[Managed]:
        return [*self.data, *self.sentinels]

    def url(self, db: int = 0) -> str:
        hosts = ",".join(f"{LOOPBACK}:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service}/{db}"

    def start(self) -> SentinelGroup:
        for server in self.data:
            server.start()
        self._wait_replicated()
        for server in self.sentinels:
            server.start()
        if not wait_for(self._sentinels_agree, 45, 0.1):  # hellos every 2 s; slower on a loaded machine
            raise RuntimeError("the Sentinels did not find the replica and each other")
        return self

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def _client(self, port: int, sentinel: bool = False):
        import redis

        password = self.sentinel_password if sentinel else self.password
        return redis.Redis(
            LOOPBACK, port, password=password or None, socket_timeout=1, socket_connect_timeout=1
        )

    def _wait_replicated(self) -> None:
        def linked() -> bool:
            info = self._client(self.data[1].port).info("replication")
            return info.get("master_link_status") == "up"

        if not wait_for(linked, 20, 0.1):
            raise RuntimeError("the replica did not sync with the primary")

    def _sentinels_agree(self) -> bool:
        for sentinel in self.sentinels:
            state = self._client(sentinel.port, sentinel=True).sentinel_master(self.service)
            if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < len(self.sentinels) - 1:
                return False
        return True

    def primary_port(self) -> int:
        """The port the Sentinels currently name as primary."""
        for sentinel in self.sentinels:
            with contextlib.suppress(Exception):
                _host, port = self._client(sentinel.port, sentinel=True).sentinel_get_master_addr_by_name(
                    self.service
                )
                return int(port)
        raise RuntimeError("no Sentinel answers")

    def server_on(self, port: int) -> Managed:
        return next(s for s in self.data if s.port == port)

    def failover(self) -> None:
        """SENTINEL FAILOVER: promote the replica, demote the primary, nothing killed."""
        for sentinel in self.sentinels:
            with contextlib.suppress(Exception):
                self._client(sentinel.port, sentinel=True).execute_command(
                    "SENTINEL", "FAILOVER", self.service
                )
                return

    def wait_for_primary(self, port: int, timeout: float = 30.0) -> bool:
        def promoted() -> bool:
            role = self._client(port).info("replication").get("role")
            return role == "master" and self.primary_port() == port

        return wait_for(promoted, timeout, 0.1)


class ClusterGroup:
    """A three-master Redis Cluster: the session role's production shape."""

    def __init__(self, folder: Path, ports: list[int], password: str = "") -> None:
        self.password = password
        self.nodes = [
            redis_server(f"cluster node {n}", port, folder / f"cluster-{port}", password, cluster=True)
            for n, port in enumerate(ports, 1)
        ]

    @property
    def servers(self) -> list[Managed]:
        return list(self.nodes)

    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{LOOPBACK}:{n.port}" for n in self.nodes)

    def start(self) -> ClusterGroup:
        fresh = not all((Path(n.log_path).parent / "nodes.conf").exists() for n in self.nodes)
        for node in self.nodes:
            node.start()
        if fresh:
            create_cluster([n.port for n in self.nodes], self.password)
        return self

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands out as a connection's own (source) port."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def cluster_ports(count: int) -> list[int]:
    """Free ports for Cluster nodes, each with its bus port (+10000) free too, both below the
    ephemeral range: a port in it can be taken as the source port of any outgoing connection
    between this check and the node's bind."""
    import random

    top = max(min(_ephemeral_floor(), 55536) - 10001, 11000)
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randint(10000, top)
        if port in chosen or any(_in_use(p) for p in (port, port + 10000)):
            continue
        chosen.append(port)
    return chosen


def _in_use(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return True
    return False


def stop_together(processes: list[Managed], timeout: float = 10.0, signum: int = signal.SIGTERM) -> None:
    """Signal every process at once, then give them `timeout` seconds in all before killing."""
    for process in processes:
        process.send(signum)
    deadline = time.monotonic() + timeout
    for process in processes:
        process.stop(signum, timeout=max(deadline - time.monotonic(), 0.1))
