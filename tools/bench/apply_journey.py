"""Hops per journey and how long a whole apply journey takes through the gateway.

Starts, on free 127.0.0.1 ports: a throwaway Redis, the reference core service (`python -m
core_service`, its own SQLite file, argon2 at its default cost) and the gateway as `make run` serves
it (granian, `tools.run_all.gateway_command`). Then N citizens, C at a time, each: register on
USSD, apply for a certificate of good conduct (department, service, purpose, county, confirm, PIN)
and track it by reference, one Africa's Talking callback per hop, the transcript growing as AT
sends it. Prints hops per journey and p50/p99 of each journey's wall time and of single hops.

    .venv/bin/python -m tools.bench.apply_journey --citizens 60 --concurrency 6

Asserts only that every journey ended on the expected screen; the figures are for the note.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tools.bench.ussd_hops import start, stop
from tools.run_all import BIN, free_port, gateway_command, redis_command

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "*384*123#"
PIN = "4826"
REFERENCE = re.compile(r"ECZ-[0-9A-Z]{6}")


@dataclass
class Timings:
    journeys: dict[str, list[float]] = field(default_factory=dict)
    hops: dict[str, int] = field(default_factory=dict)
    hop_ms: list[float] = field(default_factory=list)

    def record(self, journey: str, hop_times: list[float]) -> None:
        self.journeys.setdefault(journey, []).append(sum(hop_times))
        self.hops[journey] = len(hop_times)


class Phone:
    """One citizen dialling: keeps the transcript like Africa's Talking does."""

    def __init__(self, http: requests.Session, url: str, number: str) -> None:
        self.http, self.url, self.number = http, url, number

    def session(self, keys: list[str], hop_ms: list[float]) -> tuple[str, list[float]]:
        """Dial, then send `keys` one per hop; the last screen and each hop's time in seconds."""
        session_id = "BENCH" + uuid.uuid4().hex
        typed: list[str] = []
        body = ""
        times: list[float] = []
        for key in [None, *keys]:
            if key is not None:
                typed.append(key)
            form = {
                "sessionId": session_id,
                "serviceCode": SERVICE,
                "phoneNumber": self.number,
                "networkCode": "63902",
                "text": "*".join(typed),
            }
            started = time.perf_counter()
            body = self.http.post(self.url, data=form, timeout=15).text
            times.append(time.perf_counter() - started)
            hop_ms.append(times[-1] * 1000)
        return body, times


def people(core_url: str, n: int) -> list[dict[str, str]]:
    """`n` people from the core's population register nobody has registered as yet."""
    found: list[dict[str, str]] = []
    while len(found) < n:
        batch = min(100, n - len(found))
        response = requests.get(f"{core_url}/dev/people", params={"unregistered": 1, "n": batch}, timeout=10)
        response.raise_for_status()
        known = {p["national_id"] for p in found}
        found += [p for p in response.json() if p["national_id"] not in known]
    return found


def citizen(url: str, index: int, person: dict[str, str], timings: Timings) -> None:
    http = requests.Session()
    phone = Phone(http, url, f"+25471{index:07d}")
    year, month, day = person["date_of_birth"].split("-")
    names = [person["first_name"], person["last_name"]]
    register = ["1", person["national_id"], *names, f"{day}/{month}/{year}", PIN, PIN]
    body, times = phone.session(register, timings.hop_ms)
    timings.record("register", times)
    assert "You are registered" in body, body

    # apply up to the reference, then "1 Pay now" on the same screen
    body, times = phone.session(["2", "1", "1", "1", "Nairobi", "1", PIN, "1"], timings.hop_ms)
    timings.record("apply", times[:-1])
    timings.record("pay", times[-1:])
    match = REFERENCE.search(body)
    assert match and "M-Pesa prompt" in body, body

    body, times = phone.session(["3", match.group(0)], timings.hop_ms)
    timings.record("track", times)
    assert "Status: Submitted" in body, body


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--citizens", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--workers", default=os.environ.get("GATEWAY_WORKERS", "2"))
    parser.add_argument("--pin-hash", default="default", help="core argon2 profile: default or cheapest")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-apply-"))
    redis_port, core_port, port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "DATABASE_URL": f"sqlite:///{work / 'gateway.db'}",
        "CORE_URL": f"http://127.0.0.1:{core_port}",
        "CORE_PORT": str(core_port),
        "CORE_DATABASE_URL": f"sqlite:///{work / 'core.db'}",
        "CORE_REGISTER_URL": f"sqlite:///{work / 'register.db'}",
        "CORE_ID_HASH_KEY": "bench-national-id-hash-key",
        "CORE_PIN_HASH_PROFILE": args.pin_hash,
        "GATEWAY_WEBHOOK_URL": f"http://127.0.0.1:{port}/events/application-status",
        "SECRET_KEY": "bench-secret",
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_PER_MINUTE": "100000",
        "GATEWAY_WORKERS": args.workers,
        "PROMETHEUS_MULTIPROC_DIR": str(work / "prometheus"),
    }
    (work / "prometheus").mkdir()
    processes = []
    try:
        processes.append(start(redis_command(redis_port, work), env, redis_port, work / "redis.log"))
        processes.append(
            start([sys.executable, "-m", "stand_ins.core_service"], env, core_port, work / "core.log")
        )
        subprocess.run([str(BIN / "flask"), "--app", "app", "db", "upgrade"], cwd=ROOT, env=env, check=True)
        processes.append(start(gateway_command(port), env, port, work / "gateway.log"))
        url = f"http://127.0.0.1:{port}/ussd/africastalking"
        timings = Timings()
        registering = people(env["CORE_URL"], args.citizens)
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            jobs = [pool.submit(citizen, url, i, p, timings) for i, p in enumerate(registering)]
            for result in jobs:
                result.result()
        elapsed = time.perf_counter() - started
    finally:
        for process in reversed(processes):
            stop(process)

    print(
        f"\n{args.citizens} citizens, {args.concurrency} at a time, gateway workers {args.workers}, "
        f"core argon2 '{args.pin_hash}', {elapsed:.1f} s in all"
    )
    print(f"{'journey':<10} {'hops':>5} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for name, values in timings.journeys.items():
        ms = [v * 1000 for v in values]
        print(
            f"{name:<10} {timings.hops[name]:>5} {statistics.median(ms):>9.0f} "
            f"{percentile(ms, 0.99):>9.0f} {max(ms):>9.0f}"
        )
    hop = timings.hop_ms
    print(
        f"{'one hop':<10} {'':>5} {statistics.median(hop):>9.1f} "
        f"{percentile(hop, 0.99):>9.1f} {max(hop):>9.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
