"""CPU per notification on the SMS path, stage by stage, in one process: `python -m tools.bench.sms_profile`.

Builds the gateway with `create_app` against a Redis and a throwaway PostgreSQL cluster of its own
(`--database sqlite` for a file), then, in this process and without HTTP: posts `--events` signed
status events into the WSGI callable the server calls (`app.wsgi_app`); claims them in batches of
`--batch` and records every send as accepted (an instant fake provider: no network, so the figure is
the worker's own CPU, not the SDK's); and posts one `Success` delivery report per message. Prints
the CPU microseconds each stage costs per notification (the process's CPU time, waiting on Redis
and PostgreSQL excluded) and, with `--profile`, cProfile's top functions of each stage
(`--top`). Works on this checkout and on the one before jobs followed batches (run it from
that checkout's root, e.g. a `git archive` of it).
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, os.getcwd())

from tools.bench.sms_throughput import event as status_event  # noqa: E402
from tools.bench.wsgi_environ import environ_for  # noqa: E402

SECRET = "profile-webhook-secret"  # noqa: S105 - a throwaway secret for a throwaway database


def signed_event(n: int) -> tuple[bytes, dict[str, str]]:
    from gateway.events import signature_of

    event_id = f"profile-{n}"
    body = json.dumps(status_event(n) | {"event_id": event_id}).encode()
    return body, {
        "X-Event-Id": event_id,
        "X-Signature": signature_of(body, SECRET, event_id, int(time.time())),
    }


class InstantProvider:
    """Accepts every message at once, as Africa's Talking answers (messageId, cost)."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, phone: str, body: str):
        from sms.sending import OutcomeKind, SendOutcome

        self.sent += 1
        return SendOutcome(OutcomeKind.ACCEPTED, f"ATXid_profile_{self.sent}", "KES 0.8000", 101, "Success")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=25, help="rows per claim (the bench's are 15 - 30)")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--profile", action="store_true", help="cProfile's top functions per stage")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    from common.db import Database
    from tests.support import PostgresCluster, RedisServer
    from tools.bench.sms_throughput import cpu_seconds

    work = Path(tempfile.mkdtemp(prefix="sms-profile-"))
    redis_server = RedisServer().start()
    postgres = None
    if args.database == "postgresql":
        postgres = PostgresCluster().start()
        database_url = postgres.url(postgres.create_database())
    else:
        database_url = f"sqlite:///{work / 'gateway.db'}"
    Database(database_url).upgrade()
    os.environ.update(
        REDIS_URL=redis_server.url,
        DATABASE_URL=database_url,
        SECRET_KEY="profile-secret",  # noqa: S106
        WEBHOOK_SECRET=SECRET,
        LOG_LEVEL="WARNING",
        PROMETHEUS_MULTIPROC_DIR=str(work / "prometheus"),
    )
    (work / "prometheus").mkdir()
    try:
        from app import create_app
        from sms.cli import worker_context
        from sms.worker import claim, record

        app = create_app()
        wsgi = app.wsgi_app
        provider = InstantProvider()
        context = worker_context(app, provider)
        statuses: list[str] = []

        def start_response(status, _headers):
            statuses.append(status)

        def post(path: str, body: bytes, content_type: str, headers: dict[str, str]) -> None:
            for _chunk in wsgi(environ_for(path, body, content_type, headers), start_response):
                pass

        def webhooks(numbers: range) -> None:
            for body, headers in [signed_event(n) for n in numbers]:
                post("/events/application-status", body, "application/json", headers)

        # A checkout whose claim must be led by a row (one job per row) gets the oldest queued one.
        led = inspect.signature(claim).parameters["first_id"].default is inspect.Parameter.empty

        def oldest_queued() -> int | None:
            from sqlalchemy import func, select

            from records.sms import QUEUED, SmsMessage

            with context.database.session() as session:
                return session.scalar(select(func.min(SmsMessage.id)).where(SmsMessage.status == QUEUED))

        def sends() -> list[str]:
            ids: list[str] = []
            while True:
                first = oldest_queued() if led else None
                if led and first is None:
                    return ids
                token, rows = (
                    claim(context, first, limit=args.batch) if led else claim(context, limit=args.batch)
                )
                if not rows:
                    return ids
                outcomes = [(row, provider.send(row.phone, row.body)) for row in rows]
                record(context, token, outcomes)
                ids += [outcome.message_id for _row, outcome in outcomes]

        def reports(ids: list[str]) -> None:
            for message_id in ids:
                form = {"id": message_id, "status": "Success", "phoneNumber": "+254700000000"}
                post(
                    "/sms/africastalking/delivery",
                    urlencode(form).encode(),
                    "application/x-www-form-urlencoded",
                    {},
                )

        # Warm-up: imports, prepared statements, pooled connections.
        webhooks(range(10**6, 10**6 + 200))
        reports(sends())
        statuses.clear()

        measured = range(args.events)
        stages: dict[str, tuple[float, pstats.Stats | None]] = {}
        sent_ids: list[str] = []

        def server_cpu() -> tuple[float, float]:
            database = cpu_seconds(postgres.process.pid) if postgres is not None else 0.0
            return database, cpu_seconds(redis_server.process.pid)

        def stage(name: str, run):
            profiler = cProfile.Profile(time.process_time) if args.profile else None
            servers = server_cpu()
            cpu = time.process_time()
            if profiler:
                profiler.enable()
            result = run()
            if profiler:
                profiler.disable()
            cpu = time.process_time() - cpu
            database, redis_cpu = (
                after - before for after, before in zip(server_cpu(), servers, strict=True)
            )
            stages[name] = (cpu, database, redis_cpu, pstats.Stats(profiler) if profiler else None)
            return result

        stage("webhook (signed event → row, kick)", lambda: webhooks(measured))
        sent_ids = stage("worker (claim, render, record)", sends) or []
        stage("delivery report", lambda: reports(sent_ids))
        refused = [s for s in statuses if not s.startswith(("200", "202"))]
        assert not refused and len(sent_ids) == args.events, (refused[:3], len(sent_ids))

        print(
            f"{args.events} notifications, {args.database}, batches of {args.batch}; CPU us per notification:"
        )
        print(f"  {'stage':40} {'this process':>12} {'database':>9} {'redis':>6}")
        for name, (cpu, database, redis_cpu, _stats) in stages.items():
            figures = (cpu, database, redis_cpu)
            widths = (12, 9, 6)
            cells = " ".join(f"{x / args.events * 1e6:{w}.0f}" for x, w in zip(figures, widths, strict=True))
            print(f"  {name:40} {cells}")
        totals = [sum(stage[i] for stage in stages.values()) / args.events * 1e6 for i in range(3)]
        print(f"  {'total':40} {totals[0]:12.0f} {totals[1]:9.0f} {totals[2]:6.0f}")
        if args.profile:
            for name, (*_figures, stats) in stages.items():
                print(f"\n--- {name}: top functions by cumulative time")
                stats.sort_stats(os.environ.get("SMS_PROFILE_SORT", "cumulative")).print_stats(args.top)
        context.close()
    finally:
        redis_server.stop()
        if postgres is not None:
            postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
