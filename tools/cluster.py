"""`make cluster`: the production topology on one machine, from Debian's packages, in the foreground.

PostgreSQL; the queue role on a Redis primary + replica watched by three Sentinels; the session
role on a three-master Redis Cluster; two gateway nodes (granian, each under tools/serve.py so it
drains on SIGTERM) behind HAProxy, which health-checks `/readyz`; an RQ worker (with the audit
drainer) and SMS workers; the reference core service and the Africa's Talking sandbox. Migrations
run once, as their own step, before the nodes start. Every server binds 127.0.0.1.

Ports are `CLUSTER_BASE_PORT` (default 7100) plus a fixed offset (`PORTS`), clear of `make run`'s
8000, 8010, 8025 and 6390. Data, logs and generated passwords live under `var/cluster/` (wiped at
each start: this is a throwaway copy of production, not a place to keep data). Gateway nodes and
workers that die are started again after a second, as systemd's `Restart=always` would. Ctrl-C or
SIGTERM stops everything, data servers last.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from common.redis_conn import describe
from config import ROOT, VAR_DIR
from tools.servers import (
    LOOPBACK,
    ClusterGroup,
    Managed,
    Postgres,
    SentinelGroup,
    haproxy_server,
    stop_together,
    wait_for,
)

PYTHON = sys.executable

# Offsets from CLUSTER_BASE_PORT. Cluster nodes also use their port + 10000 (the cluster bus).
PORTS = {
    "haproxy": 0,
    "haproxy_stats": 1,
    "gateway": 2,  # gateway node n listens on base + 2 + (n - 1)
    "core": 8,
    "sandbox": 9,
    "postgres": 10,
    "queue_redis": 11,  # primary 11, replica 12, Sentinels 13-15
    "session_cluster": 20,  # 20-22
}
RESERVED = {8000, 8010, 8025, 6390}


@dataclass(frozen=True)
class Secrets:
    redis: str
    sentinel: str
    postgres: str
    secret_key: str
    webhook: str

    @classmethod
    def generate(cls) -> Secrets:
        return cls(*(secrets.token_urlsafe(24) for _ in range(5)))


class Topology:
    """Everything `make cluster` runs; the drill (tools/drill.py) drives the same object."""

    def __init__(
        self,
        base_port: int | None = None,
        folder: Path | None = None,
        gateway_nodes: int = 2,
        sms_workers: int = 2,
        quiet: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.base = base_port or int(os.environ.get("CLUSTER_BASE_PORT", "7100"))
        used = {self.base + offset for offset in range(23)} | {self.base + 10020 + n for n in range(3)}
        if used & RESERVED:
            raise SystemExit(f"CLUSTER_BASE_PORT={self.base} collides with make run's {sorted(RESERVED)}")
        self.folder = folder or VAR_DIR / "cluster"
        self.logs = self.folder / "logs"
        self.quiet = quiet
        self.secrets = Secrets.generate()
        self.postgres = Postgres(
            self.folder / "postgres", self.port("postgres"), "gateway", self.secrets.postgres
        )
        self.queue_redis = SentinelGroup(
            self.folder / "queue-redis",
            [self.port("queue_redis") + n for n in range(5)],
            password=self.secrets.redis,
            sentinel_password=self.secrets.sentinel,
        )
        self.session_redis = ClusterGroup(
            self.folder / "session-redis",
            [self.port("session_cluster") + n for n in range(3)],
            password=self.secrets.redis,
        )
        self.env = {**self._app_env(), **(extra_env or {})}
        self.gateways = [self._gateway(n) for n in range(1, gateway_nodes + 1)]
        self.core = self._python("core service", ["-m", "stand_ins.core_service"], self.port("core"))
        self.sandbox = self._python(
            "Africa's Talking sandbox", ["-m", "stand_ins.at_sandbox"], self.port("sandbox")
        )
        self.rq_worker = self._python("RQ worker", ["-m", "flask", "--app", "app", "worker"], None)
        self.sms_workers = [
            self._python(f"SMS worker {n}", ["-m", "flask", "--app", "app", "sms", "worker"], None)
            for n in range(1, sms_workers + 1)
        ]
        self.haproxy = haproxy_server(
            self.port("haproxy"),
            [(f"node{n}", g.port) for n, g in enumerate(self.gateways, 1)],
            self.folder / "haproxy",
            stats_port=self.port("haproxy_stats"),
        )
        self._stopping = threading.Event()

    # -- layout ------------------------------------------------------------------------------
    def port(self, name: str) -> int:
        return self.base + PORTS[name]

    @property
    def url(self) -> str:
        """The load balancer: where aggregators (and the drill) send hops."""
        return f"http://{LOOPBACK}:{self.port('haproxy')}"

    @property
    def database_url(self) -> str:
        return self.postgres.url("gateway")

    def _app_env(self) -> dict[str, str]:
        lb = f"http://{LOOPBACK}:{self.port('haproxy')}"
        env = {
            **os.environ,
            "VAR_DIR": str(self.folder / "var"),
            "DATABASE_URL": self.postgres.url("gateway"),
            "SESSION_REDIS_URL": self.session_redis.url(),
            "QUEUE_REDIS_URL": self.queue_redis.url(),
            "REDIS_URL": self.queue_redis.url(),
            "REDIS_PASSWORD": self.secrets.redis,
            "REDIS_SENTINEL_PASSWORD": self.secrets.sentinel,
            "SECRET_KEY": self.secrets.secret_key,
            "WEBHOOK_SECRET": self.secrets.webhook,
            "CORE_URL": f"http://{LOOPBACK}:{self.port('core')}",
            "CORE_PORT": str(self.port("core")),
            "CORE_DATABASE_URL": f"sqlite:///{self.folder / 'core' / 'core.db'}",
            "GATEWAY_WEBHOOK_URL": f"{lb}/events/application-status",
            "AT_API_URL": f"http://{LOOPBACK}:{self.port('sandbox')}/version1",
            "AT_SANDBOX_PORT": str(self.port("sandbox")),
            "AT_SANDBOX_DLR_URL": f"{lb}/sms/africastalking/delivery",
            "AT_SANDBOX_INBOUND_URL": f"{lb}/sms/africastalking/inbound",
            "HOST": LOOPBACK,
            "GATEWAY_WORKERS": os.environ.get("GATEWAY_WORKERS", "1"),
            "GATEWAY_THREADS": os.environ.get("GATEWAY_THREADS", "8"),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        return env

    def _python(
        self, name: str, args: list[str], port: int | None, env: dict[str, str] | None = None
    ) -> Managed:
        slug = name.lower().replace(" ", "-").replace("'", "")
        return Managed(name, [PYTHON, *args], port, self.logs / f"{slug}.log", env=env or self.env, cwd=ROOT)

    def _gateway(self, n: int) -> Managed:
        port = self.port("gateway") + n - 1
        env = {
            **self.env,
            "PORT": str(port),
            "DRAIN_FILE": str(self.folder / "var" / f"drain-node{n}"),
            "DRAIN_TIMEOUT_S": os.environ.get("DRAIN_TIMEOUT_S", "15"),
            "DRAIN_GRACE_S": os.environ.get("DRAIN_GRACE_S", "2"),
        }
        return self._python(f"gateway node {n}", ["-m", "tools.serve"], port, env)

    @property
    def app_processes(self) -> list[Managed]:
        """What a process manager restarts when it dies."""
        return [*self.gateways, self.rq_worker, *self.sms_workers]

    # -- life --------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    def start(self) -> Topology:
        shutil.rmtree(self.folder, ignore_errors=True)
        (self.folder / "var").mkdir(parents=True)
        self.logs.mkdir(parents=True)
        self.say("  starting PostgreSQL …")
        self.postgres.init().start()
        self.postgres.create_database("gateway")
        self.say("  starting the queue Redis (primary, replica, three Sentinels) …")
        self.queue_redis.start()
        self.say("  starting the session Redis Cluster (three masters) …")
        self.session_redis.start()
        self.say("  migrating the database (flask --app app db upgrade) …")
        self.migrate()
        self.say("  starting the core service, the sandbox, the gateway nodes and the workers …")
        for service in (self.core, self.sandbox):
            service.start()
        for gateway in self.gateways:
            gateway.start(wait_s=60)
        self.haproxy.start()
        for worker in (self.rq_worker, *self.sms_workers):
            worker.start()
        if not wait_for(self._ready_through_lb, 30, 0.2):
            raise RuntimeError(f"the load balancer never answered /readyz 200; logs in {self.logs}")
        return self

    def migrate(self) -> None:
        import subprocess

        with open(self.logs / "migrate.log", "ab") as log:
            subprocess.run(
                [PYTHON, "-m", "flask", "--app", "app", "db", "upgrade"],
                cwd=ROOT,
                env=self.env,
                check=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _ready_through_lb(self) -> bool:
        import requests

        return requests.get(f"{self.url}/readyz", timeout=1).status_code == 200

    def supervise(self) -> None:
        """Restart gateway nodes and workers that die (1 s later), until `stop()`."""
        while not self._stopping.wait(0.5):
            for process in self.app_processes:
                if process.process is not None and not process.alive and not self._stopping.is_set():
                    self.say(f"  ✗ {process.name} exited ({process.process.returncode}); starting it again")
                    time.sleep(1)
                    try:
                        process.start(wait_s=60)
                    except RuntimeError as exc:
                        self.say(f"  ✗ {process.name} did not start again: {str(exc)[:200]}")

    def stop(self) -> None:
        """Everything, in order: the load balancer and nodes (draining), workers, then data."""
        self._stopping.set()
        stop_together(self.gateways, timeout=20)
        stop_together([self.haproxy, self.rq_worker, *self.sms_workers, self.core, self.sandbox])
        self.session_redis.stop()
        self.queue_redis.stop()
        self.postgres.stop()

    def banner(self) -> str:
        rows = [
            ("load balancer (HAProxy)", f"{self.url}   (stats {LOOPBACK}:{self.port('haproxy_stats')})"),
            *((g.name, f"http://{LOOPBACK}:{g.port}  → /livez /readyz") for g in self.gateways),
            ("core service (reference)", self.env["CORE_URL"]),
            ("Africa's Talking sandbox", f"http://{LOOPBACK}:{self.port('sandbox')}/sandbox/messages"),
            ("PostgreSQL", describe(self.database_url)),
            ("queue Redis (Sentinel)", describe(self.queue_redis.url())),
            ("", f"primary :{self.queue_redis.data[0].port}, replica :{self.queue_redis.data[1].port}"),
            ("session Redis (Cluster)", describe(self.session_redis.url())),
            ("RQ worker", "queue 'default' + audit drainer"),
            ("SMS workers", f"{len(self.sms_workers)} on queue 'sms'"),
            ("logs", str(self.logs)),
            ("passwords", "generated for this run; in the processes' environment only"),
        ]
        lines = ["", "  eCitizen gateway: the production topology on this machine (Ctrl-C stops it)", ""]
        lines += [f"  {name:<28} {where}" for name, where in rows]
        lines += [
            "",
            "  Try it:  .venv/bin/flask --app app ussd dial '*384*123#' --phone +254712345678 "
            f"--url {self.url}",
            "",
        ]
        return "\n".join(lines)


def main() -> int:
    topology = Topology()

    def on_signal(_signum: int, _frame: object) -> None:
        topology._stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        topology.start()
        print(topology.banner(), flush=True)
        topology.supervise()
    except (RuntimeError, OSError) as exc:
        print(f"\n✗ {exc}", file=sys.stderr)
        return 1
    finally:
        print("\n  stopping …", flush=True)
        topology.stop()
        print("  stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
