"""`make bench`: hops per second and latency of the gateway as `make run` serves it, against the floor.

Both are served by granian (WSGI, same workers and threads) on a fresh embedded Redis and loaded by
wrk (a separate process) playing realistic multi-hop sessions: dial, Help, a topic, back, another
topic, back, home. Each is measured at its peak (closed loop) and again paced at half the gateway's
peak, where p99 is what a citizen feels. Then Redis memory per live session is measured with
MEMORY USAGE on sessions parked mid-journey.

Prints figures; asserts nothing. Targets (2-core machine): gateway >= 0.8 x floor hops/s, p99 under
25 ms at half the peak rate, <= 1 KB of Redis per live session.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests

from tools.run_all import free_port, gateway_command, redis_command, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
LUA = Path(__file__).with_name("sessions.lua")


def start(command: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )
    if not wait_for_port("127.0.0.1", port, 30, process):
        raise SystemExit(f"{command[0]} did not start; see {log}")
    return process


def stop(process: subprocess.Popen) -> None:
    """Stop a server and wait until every process of its group is gone, so that the next run does
    not share the CPU with a previous server's workers still shutting down."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    time.sleep(0.5)


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, connections: int, seconds: int, delay_ms: float = 0) -> dict[str, float]:
    env = {**os.environ, "BENCH_DELAY_MS": str(int(delay_ms))}
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(connections),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            str(LUA),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = {"rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "90", "99"):
        figures[f"p{pct}"] = _ms(re.search(rf"\s{pct}%\s+([\d.]+\w+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non2xx"] = float(errors.group(1)) if errors else 0.0
    figures["requests"] = float(re.search(r"(\d+) requests in", out).group(1))
    return figures


def gunicorn_command(target: str, port: int, workers: str, threads: int) -> list[str]:
    command = [str(Path(sys.executable).parent / "gunicorn"), "-w", workers, "-b", f"127.0.0.1:{port}"]
    if threads > 1:
        command += ["-k", "gthread", "--threads", str(threads)]
    return [*command, "--log-level", "warning", f"{target}()"]


def serve_and_load(name: str, command: list[str], env: dict[str, str], port: int, args, delay_ms: float = 0):
    """Start one server, warm it up, load it for `args.seconds`, stop it; wrk's figures."""
    log = Path(tempfile.gettempdir()) / f"bench-{name}.log"
    process = start(command, env, port, log)
    url = f"http://127.0.0.1:{port}/ussd/africastalking"
    try:
        wrk(url, args.connections, 2)  # warm up: imports, connection pools, page caches
        return wrk(url, args.connections, args.seconds, delay_ms)
    finally:
        stop(process)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def session_memory(
    redis_url: str, gateway_env: dict[str, str], port: int, sessions: int = 200
) -> dict[str, float]:
    """Park sessions mid-journey (dial, Help, a topic) and weigh every key each phone holds."""
    log = Path(tempfile.gettempdir()) / "bench-memory.log"
    process = start(gateway_command(port), gateway_env, port, log)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    url = f"http://127.0.0.1:{port}/ussd/africastalking"
    http = requests.Session()
    try:
        before = client.info("memory")["used_memory"]
        for i in range(sessions):
            form = {
                "sessionId": f"MEM{i}",
                "serviceCode": "*384*123#",
                "phoneNumber": f"+25472{i:07d}",
                "networkCode": "63902",
            }
            for text in ("", "7", "7*1"):
                http.post(url, data={**form, "text": text}, timeout=5)
        after = client.info("memory")["used_memory"]
        per_phone = []
        for i in range(sessions):
            keys = client.keys(f"u:{{+25472{i:07d}}}:*")
            per_phone.append(sum(client.memory_usage(k) or 0 for k in keys))
    finally:
        stop(process)
    return {
        "memory_usage_per_session": sum(per_phone) / len(per_phone),
        "memory_usage_max": max(per_phone),
        "used_memory_delta_per_session": (after - before) / sessions,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--workers", default=os.environ.get("GATEWAY_WORKERS", "2"))
    parser.add_argument(
        "--compare-servers", action="store_true", help="also serve the floor with gunicorn (sync, gthread)"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("make bench needs wrk: apt-get install wrk")

    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    redis_port = free_port()
    redis_process = start(
        redis_command(redis_port, workdir),
        dict(os.environ),
        redis_port,
        workdir / "redis.log",
    )
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    base_env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "GATEWAY_WORKERS": args.workers,
        "PYTHONPATH": str(ROOT),
    }
    gateway_env = {
        **base_env,
        "DATABASE_URL": f"sqlite:///{workdir / 'gateway.db'}",
        "VAR_DIR": str(workdir),
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
        "RATE_LIMIT_PER_MINUTE": os.environ.get("RATE_LIMIT_PER_MINUTE", "30"),
    }
    (workdir / "prometheus").mkdir()
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env=gateway_env,
        check=True,
        capture_output=True,
    )

    def floor_command(port: int) -> list[str]:
        command = gateway_command(port)
        command[command.index("app:create_app")] = "tools.bench.floor_app:create_app"
        return command

    variants = {
        "floor": (floor_command, base_env),
        "gateway": (gateway_command, {**gateway_env, "AUDIT_ENABLED": "1"}),
        "gateway, no audit trail": (gateway_command, {**gateway_env, "AUDIT_ENABLED": "0"}),
    }
    peaks: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    try:
        # Interleaved rounds: a slow moment of the machine hits every variant, not just one.
        names = list(variants)
        for round_number in range(args.rounds):
            # Rotate the order too, so that no variant always runs in the same position.
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                command, env = variants[name]
                port = free_port()
                peaks[name].append(serve_and_load(name, command(port), env, port, args))
        peak = {name: {k: median([r[k] for r in runs]) for k in runs[0]} for name, runs in peaks.items()}
        paced = {}
        target = peak["gateway"]["rate"] / 2  # half the gateway's peak, for both
        for name in ("floor", "gateway"):
            command, env = variants[name]
            delay = max(args.connections * 1000 / target - peak[name]["p50"], 0)
            port = free_port()
            paced[name] = serve_and_load(f"{name}-paced", command(port), env, port, args, delay)
        memory = session_memory(redis_url, gateway_env, free_port())
        others = []
        if args.compare_servers:
            for label, threads in (("gunicorn sync", 1), ("gunicorn gthread x4", 4)):
                port = free_port()
                command = gunicorn_command("tools.bench.floor_app:create_app", port, args.workers, threads)
                others.append((f"floor under {label}", serve_and_load(label, command, base_env, port, args)))
    finally:
        stop(redis_process)

    print(
        f"\nUSSD hop benchmark: granian WSGI, {args.workers} workers, wrk {args.connections} connections, "
        f"{args.seconds}s per run, median of {args.rounds} interleaved rounds, {os.cpu_count()} cores"
    )
    print(f"{'':34} {'hops/s':>10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    rows = [(f"{name} peak", fig) for name, fig in peak.items()]
    rows += [(f"{name} at half the gateway's peak", fig) for name, fig in paced.items()]
    rows += others
    for label, fig in rows:
        print(
            f"{label:34} {fig['rate']:>10.0f} {fig['p50']:>8.2f} {fig['p90']:>8.2f} {fig['p99']:>8.2f} "
            f"{fig['non2xx']:>8.0f}"
        )
    for name, runs in peaks.items():
        rates = ", ".join(str(round(r["rate"])) for r in runs)
        print(f"  {name} peaks per round: {rates}")
    ratio = peak["gateway"]["rate"] / peak["floor"]["rate"]
    audit_cost = 1 - peak["gateway"]["rate"] / peak["gateway, no audit trail"]["rate"]
    print(f"\ngateway / floor hops/s: {ratio:.2f}  (target >= 0.80)")
    print(f"audit trail's cost in hops/s: {audit_cost:.1%}  (target <= 10%)")
    print(f"gateway p99 at half its peak: {paced['gateway']['p99']:.2f} ms  (target < 25 ms)")
    print(
        f"Redis per live session (MEMORY USAGE of all its phone's keys): "
        f"{memory['memory_usage_per_session']:.0f} B avg, {memory['memory_usage_max']:.0f} B max "
        "(target <= 1024 B)"
    )
    print(f"Redis used_memory delta per session: {memory['used_memory_delta_per_session']:.0f} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
