"""SMS throughput end to end: signed core-service events in through the gateway's webhook, out at the
Africa's Talking sandbox answering every send in 300 ms.

    make bench-sms                                   # 2000 events, SMS_WORKERS=2
    python -m tools.bench.sms_throughput --events 3000 --workers 3 --latency-ms 300 --no-reports

Starts its own Redis, database (a throwaway PostgreSQL cluster, or `--database sqlite`), sandbox,
gateway (granian, 2 processes) and SMS workers on free 127.0.0.1 ports; sends `--warmup` events
first and waits for them (the processes warm, as in a long-running deployment); then posts the
measured events from a pool of clients and waits for the sandbox to hold one message per event.
Prints notifications per second (first event posted → last SMS received at the sandbox), the queue
wait (row created → claimed by a worker: p50/p95/max), the end-to-end latency, whether any
notification was lost or sent twice, and the CPU each process spent from the first measured event
(per notification too).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from rq import Worker

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from common.db import Database  # noqa: E402
from gateway.events import signature_of  # noqa: E402
from tests.sms_channel.processes import start_workers  # noqa: E402
from tests.support import (  # noqa: E402
    GatewayServer,
    PostgresCluster,
    PostgresUnavailable,
    RedisServer,
    free_port,
    wait_until,
)

SECRET = "bench-webhook-secret"  # noqa: S105 - a throwaway secret for a local run


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def event(n: int) -> dict:
    return {
        "event_id": f"bench-{n}",
        "type": "application.status_changed",
        "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
        "reference": "ECZ-7K3Q9P",
        "phone": f"+2547{n:08d}",
        "service_code": "good-conduct",
        "service_name": {"en": "Certificate of Good Conduct", "sw": "Cheti cha Maadili Mema"},
        "old_status": "under_review",
        "new_status": "approved",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("SMS_WORKERS", "2")))
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--clients", type=int, default=16, help="concurrent webhook posters")
    parser.add_argument(
        "--warmup", type=int, default=300, help="events sent and delivered before the clock starts"
    )
    parser.add_argument("--no-reports", action="store_true", help="sandbox posts no delivery reports")
    parser.add_argument(
        "--database",
        choices=("postgresql", "sqlite"),
        default="postgresql",
        help="the outbox's database: a throwaway PostgreSQL cluster (as in production; the test "
        "suite's settings, fsync off) or a SQLite file (as `make run`)",
    )
    args = parser.parse_args()

    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sms-"))
    postgres = None
    if args.database == "postgresql":
        try:
            postgres = PostgresCluster().start()
        except PostgresUnavailable as exc:
            raise SystemExit(f"{exc} (or run with --database sqlite)") from None
        database_url = postgres.url(postgres.create_database())
    else:
        database_url = f"sqlite:///{tmp / 'gateway.db'}"
    Database(database_url).upgrade()
    redis_server = RedisServer().start()
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-secret-key",
        "WEBHOOK_SECRET": SECRET,
        "AT_API_URL": sandbox_url,
        "LOG_LEVEL": "WARNING",
        "AT_SANDBOX_PORT": str(sandbox_port),
        "AT_SANDBOX_DLR_DELAY_MS": "500",
    }
    gateway = GatewayServer(env, workers=2)
    env["AT_SANDBOX_DLR_URL"] = "" if args.no_reports else f"{gateway.url}/sms/africastalking/delivery"
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "stand_ins.at_sandbox"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers = []
    try:
        gateway.start()
        if not wait_until(lambda: _up(sandbox_url), timeout=30):
            raise SystemExit("sandbox did not start")
        workers = start_workers(env, args.workers, redis_server.client())
        requests.post(f"{sandbox_url}/sandbox/faults", json={"latency_ms": args.latency_ms}, timeout=5)

        poster = WebhookPoster(gateway.port, args.clients)
        inbox = SandboxInbox(sandbox_url)
        if args.warmup:
            # Every process warm (connections, send threads, caches), as a worker running for days is.
            warm = range(args.events, args.events + args.warmup)
            poster.post(warm)
            inbox.wait_for({event(n)["phone"] for n in warm}, timeout_s=120)
            time.sleep(1.0)  # the warm-up's delivery reports come 0.5 s after their SMS
        first_id = _last_message_id(database_url)

        measured = range(args.events)
        print(
            f"{args.events} events (after {args.warmup} to warm up), {args.workers} SMS workers, "
            f"sandbox latency {args.latency_ms} ms, delivery reports {'off' if args.no_reports else 'on'}, "
            f"{args.database}",
            flush=True,
        )
        cpu_before = _server_cpu(gateway, sandbox, workers, redis_server, postgres)
        started = time.time()
        client_cpu = resource.getrusage(resource.RUSAGE_SELF)
        statuses = poster.post(measured)
        client_cpu = _cpu_since(client_cpu)
        ingested = time.time()
        received, copies = inbox.wait_for({event(n)["phone"] for n in measured}, timeout_s=300)
        finished = max(received.values(), default=time.time())
        cpu = {
            name: seconds - cpu_before[name]
            for name, seconds in _server_cpu(gateway, sandbox, workers, redis_server, postgres).items()
        }
        cpu["webhook client"] = client_cpu

        waits, ends = _queue_waits(database_url, first_id)
        lost = args.events - len(received)
        twice = sum(1 for n in copies.values() if n > 1)
        elapsed = finished - started
        rate = len(received) / elapsed if elapsed > 0 else 0.0
        print(f"webhook answers: {dict(statuses)} · ingest {args.events / (ingested - started):.0f} events/s")
        print(f"throughput: {rate:.0f} notifications/s end to end ({len(received)} in {elapsed:.2f} s)")
        print(
            f"queue wait (created → claimed): p50 {percentile(waits, 50) * 1000:.0f} ms · "
            f"p95 {percentile(waits, 95) * 1000:.0f} ms · max {max(waits, default=0) * 1000:.0f} ms"
        )
        print(
            f"created → sent recorded: p50 {percentile(ends, 50) * 1000:.0f} ms · "
            f"p95 {percentile(ends, 95) * 1000:.0f} ms"
        )
        if ends:
            mean_ms = statistics.mean(ends) * 1000
            print(f"mean created → sent recorded ({args.latency_ms} ms provider latency): {mean_ms:.0f} ms")
        print(f"lost: {lost} · sent twice: {twice} · statuses: {_statuses(database_url, first_id)}")
        jobs = sum(w.successful_job_count for w in Worker.all(connection=redis_server.client()))
        print(f"SMS jobs run (warm-up included): {jobs}; batches claimed: {_batches(database_url, first_id)}")
        per_event = {name: seconds / args.events * 1000 for name, seconds in cpu.items()}
        print(
            "CPU seconds from the first event on: "
            + " · ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
            + f" · total {sum(cpu.values()):.1f} in {elapsed:.1f} s ({os.cpu_count()} cores; load "
            + f"average before the run {load_before[0]:.2f}, now {os.getloadavg()[0]:.2f})"
        )
        print(
            "CPU ms per notification: "
            + " · ".join(f"{name} {ms:.2f}" for name, ms in per_event.items())
            + f" · total {sum(per_event.values()):.2f}"
        )
        return 0 if lost == 0 and twice == 0 else 1
    finally:
        for worker in workers:
            worker.stop()
        gateway.stop()
        sandbox.terminate()
        sandbox.wait(10)
        redis_server.stop()
        if postgres is not None:
            postgres.stop()


class WebhookPoster:
    """Posts signed status events to the gateway: signed before the clock starts, sent over one
    kept-alive connection per client thread with the standard library's HTTP client, so the poster
    costs tens of microseconds an event and is never what the figure measures."""

    def __init__(self, port: int, clients: int) -> None:
        self.port = port
        self.clients = clients
        self._connections = threading.local()

    def post(self, numbers: range) -> Counter:
        """Post event `n` for each of `numbers`; the count of each HTTP status answered."""
        signed = [_signed(n) for n in numbers]
        with ThreadPoolExecutor(self.clients) as pool:
            return Counter(pool.map(self._post, signed))

    def _post(self, signed: tuple[bytes, dict[str, str]]) -> int:
        body, headers = signed
        connection = getattr(self._connections, "http", None)
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self._connections.http = connection
        connection.request("POST", "/events/application-status", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status


class SandboxInbox:
    """What reached the sandbox, read page by page (each message once, by its sequence number)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.last_seq = 0

    def wait_for(self, phones: set[str], timeout_s: float) -> tuple[dict[str, float], Counter]:
        """Until every phone of `phones` got a message (or `timeout_s`): when each first got one
        (sandbox clock, epoch seconds) and how many each got."""
        received: dict[str, float] = {}
        copies: Counter = Counter()
        deadline = time.monotonic() + timeout_s
        while len(received) < len(phones) and time.monotonic() < deadline:
            page = requests.get(f"{self.url}/sandbox/messages", params={"since": self.last_seq}, timeout=30)
            for message in page.json():
                self.last_seq = max(self.last_seq, message["seq"])
                if message["to"] not in phones:
                    continue
                copies[message["to"]] += 1
                at = dt.datetime.fromisoformat(message["received_at"].replace("Z", "+00:00")).timestamp()
                received.setdefault(message["to"], at)
            time.sleep(0.2)
        return received, copies


def _last_message_id(database_url: str) -> int:
    from sqlalchemy import func, select

    from records.sms import SmsMessage

    with Database(database_url).session() as session:
        return session.scalar(select(func.coalesce(func.max(SmsMessage.id), 0)))


def _server_cpu(gateway, sandbox, workers, redis_server, postgres) -> dict[str, float]:
    cpu = {
        "gateway": cpu_seconds(gateway.process.pid),
        "sandbox": cpu_seconds(sandbox.pid),
        "sms workers": sum(cpu_seconds(w.process.pid) for w in workers),
        "redis": cpu_seconds(redis_server.process.pid),
    }
    if postgres is not None:
        cpu["postgresql"] = cpu_seconds(postgres.process.pid)
    return cpu


def _signed(n: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event(n)).encode()
    event_id = f"bench-{n}"
    headers = {
        "Content-Type": "application/json",
        "X-Event-Id": event_id,
        "X-Signature": signature_of(body, SECRET, event_id, int(time.time())),
    }
    return body, headers


def _cpu_since(before: resource.struct_rusage) -> float:
    """User + system CPU seconds this process (every thread, no child) used since `before`."""
    now = resource.getrusage(resource.RUSAGE_SELF)
    return (now.ru_utime - before.ru_utime) + (now.ru_stime - before.ru_stime)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and all its descendants (Linux /proc), alive ones only."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    total, frontier = 0.0, [pid]
    while frontier:
        current = frontier.pop()
        total += stats.get(current, (0, 0.0))[1]
        frontier += [child for child, (parent, _) in stats.items() if parent == current]
    return total


def _up(url: str) -> bool:
    try:
        return requests.get(f"{url}/sandbox/health", timeout=1).ok
    except requests.RequestException:
        return False


def _queue_waits(database_url: str, after_id: int) -> tuple[list[float], list[float]]:
    from sqlalchemy import select

    from records.sms import SmsMessage

    database = Database(database_url)
    with database.session() as session:
        rows = session.execute(
            select(SmsMessage.created_at, SmsMessage.sending_at, SmsMessage.sent_at).where(
                SmsMessage.id > after_id
            )
        ).all()
    waits = [(s - c).total_seconds() for c, s, _ in rows if s]
    ends = [(t - c).total_seconds() for c, _, t in rows if t]
    return waits, ends


def _batches(database_url: str, after_id: int) -> int:
    from sqlalchemy import func, select

    from records.sms import SmsMessage

    with Database(database_url).session() as session:
        return session.scalar(
            select(func.count(func.distinct(SmsMessage.sending_at))).where(SmsMessage.id > after_id)
        )


def _statuses(database_url: str, after_id: int) -> dict[str, int]:
    from sqlalchemy import func, select

    from records.sms import SmsMessage

    with Database(database_url).session() as session:
        return dict(
            session.execute(
                select(SmsMessage.status, func.count())
                .where(SmsMessage.id > after_id)
                .group_by(SmsMessage.status)
            ).all()
        )


if __name__ == "__main__":
    sys.exit(main())
