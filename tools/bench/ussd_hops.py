"""`make bench`: the gateway side by side with its floors and with the fastest USSD stack, in one run.

Four servers, same workload, same machine, loaded one after another by wrk (a separate process):

- the gateway as deployed: granian, the audit trail on, the RQ worker running, the callback lane;
- the Flask + redis floor: a bare Flask handler doing one GET and one SET per hop;
- the raw WSGI + redis floor: the same GET and SET with no framework at all;
- ussd-menu-builder on Node (Debian's nodejs; `npm install` into the run's temp dir, never into the
  repository), Redis sessions through its sessionConfig, 2 processes via node:cluster.

Plus, for what each change bought, the gateway with its callbacks served by Flask's route
(CALLBACK_LANE=0). Workload: 32 connections, 2,000 interleaved sessions of dial, one menu option,
back. Three interleaved rounds with a rotating order; medians and every round's figure are printed,
with ratios. Then hops that run an action against the reference core (Apply from an unregistered
phone, Track an unknown reference), the gateway's p99 at half its peak, and Redis memory per live
session (MEMORY USAGE). Prints figures; asserts nothing.

Prerequisites (the benchmark's own, not the test suite's): `apt-get install wrk nodejs npm`.
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
NODE_APP = Path(__file__).with_name("node_menu.js")
MENU_HOPS = ",7,7*0"  # dial, Help, back
ACTION_HOPS = {
    "Apply (unregistered: core lookup)": ",2,2*0",
    "Track (core lookup of a reference)": ",3,3*ECZ-0000AA",
}


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


def wrk(
    url: str, connections: int, seconds: int, delay_ms: float = 0, steps: str = MENU_HOPS, threads: int = 4
) -> dict[str, float]:
    env = {
        **os.environ,
        "BENCH_DELAY_MS": str(int(delay_ms)),
        "BENCH_STEPS": steps,
        "BENCH_THREADS": str(threads),
        "BENCH_SESSIONS": "2000",
    }
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
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


def serve_and_load(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    args,
    delay_ms: float = 0,
    steps: str = MENU_HOPS,
    helpers: tuple[list[str], ...] = (),
):
    """Start one server (and its helper processes), warm it up, load it for `args.seconds`, stop it."""
    log = Path(tempfile.gettempdir()) / f"bench-{name.replace(' ', '_')}.log"
    process = start(command, env, port, log)
    extra = [
        subprocess.Popen(
            h, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        for h in helpers
    ]
    url = f"http://127.0.0.1:{port}/ussd/africastalking"
    try:
        wrk(url, args.connections, 2, steps=steps)  # warm up: imports, connection pools, page caches
        return wrk(url, args.connections, args.seconds, delay_ms, steps=steps)
    finally:
        for helper in extra:
            stop(helper)
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


def install_node_library(workdir: Path) -> Path | None:
    """`npm install ussd-menu-builder redis` under `workdir`; None (and why) when Node is missing."""
    if not (shutil.which("node") and shutil.which("npm")):
        print("ussd-menu-builder skipped: needs Debian's nodejs and npm (apt-get install nodejs npm)")
        return None
    folder = workdir / "node"
    folder.mkdir()
    subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund", "ussd-menu-builder@1.2.0", "redis@4"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return folder / "node_modules"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--workers", default=os.environ.get("GATEWAY_WORKERS", "2"))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("make bench needs wrk: apt-get install wrk")

    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    node_modules = install_node_library(workdir)
    redis_port, core_port = free_port(), free_port()
    redis_process = start(
        redis_command(redis_port, workdir), dict(os.environ), redis_port, workdir / "redis.log"
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
        "SECRET_KEY": "bench-secret",
        "LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
        "RATE_LIMIT_PER_MINUTE": os.environ.get("RATE_LIMIT_PER_MINUTE", "30"),
        "AUDIT_ENABLED": "1",
        "CORE_URL": f"http://127.0.0.1:{core_port}",
        "CORE_PORT": str(core_port),
        "CORE_DATABASE_URL": f"sqlite:///{workdir / 'core.db'}",
        "CORE_REGISTER_URL": f"sqlite:///{workdir / 'register.db'}",
        "CORE_ID_HASH_KEY": "bench-national-id-hash-key",
    }
    (workdir / "prometheus").mkdir()
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env=gateway_env,
        check=True,
        capture_output=True,
    )
    core_process = start(
        [sys.executable, "-m", "stand_ins.core_service"], gateway_env, core_port, workdir / "core.log"
    )
    rq_worker = [str(Path(sys.executable).parent / "flask"), "--app", "app", "worker"]

    def python_app(target: str):
        def command(port: int) -> list[str]:
            command = gateway_command(port)
            command[command.index("app:create_app")] = target
            return command

        return command

    def node_command(port: int) -> list[str]:
        return ["node", str(NODE_APP)]

    variants: dict[str, tuple] = {
        "gateway": (gateway_command, gateway_env, (rq_worker,)),
        "Flask + redis floor": (python_app("tools.bench.floor_app:create_app"), base_env, ()),
        "raw WSGI + redis floor": (python_app("tools.bench.raw_floor:create_app"), base_env, ()),
        "gateway, Flask route": (gateway_command, {**gateway_env, "CALLBACK_LANE": "0"}, (rq_worker,)),
    }
    if node_modules is not None:
        variants["ussd-menu-builder (Node)"] = (
            node_command,
            {**base_env, "NODE_PATH": str(node_modules), "NODE_WORKERS": "2"},
            (),
        )
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    action_runs: dict[str, list[dict[str, float]]] = {name: [] for name in ACTION_HOPS}

    def load(name: str, steps: str = MENU_HOPS, delay_ms: float = 0) -> dict[str, float]:
        command, env, helpers = variants[name]
        port = free_port()
        env = {**env, "PORT": str(port)}
        return serve_and_load(name, command(port), env, port, args, delay_ms, steps, helpers)

    try:
        names = list(variants)
        for round_number in range(args.rounds):
            # Interleaved and rotated: a slow moment of the shared machine hits every variant alike.
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                runs[name].append(load(name))
            for label, steps in ACTION_HOPS.items():
                action_runs[label].append(load("gateway", steps))
        peak = {name: {k: median([r[k] for r in rs]) for k in rs[0]} for name, rs in runs.items()}
        actions = {name: {k: median([r[k] for r in rs]) for k in rs[0]} for name, rs in action_runs.items()}
        target = peak["gateway"]["rate"] / 2
        delay = args.connections * 1000 / target  # each connection waits this long between hops
        paced = load("gateway", delay_ms=delay)
        memory = session_memory(redis_url, gateway_env, free_port())
    finally:
        stop(core_process)
        stop(redis_process)

    print(
        f"\nUSSD hops: wrk {args.connections} connections, 2,000 interleaved sessions (dial, Help, back), "
        f"{args.seconds}s per run, {args.rounds} interleaved rounds, {os.cpu_count()} cores, "
        f"load average at the end {os.getloadavg()[0]:.2f}"
    )
    node = peak.get("ussd-menu-builder (Node)")
    print(
        f"{'':34} {'hops/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8} {'/gateway':>9} {'/Node':>6}",
        end="",
    )
    print("  rounds")
    for name, fig in peak.items():
        rounds = ", ".join(str(round(r["rate"])) for r in runs[name])
        vs_node = f"{fig['rate'] / node['rate']:.2f}" if node else "-"
        print(
            f"{name:34} {fig['rate']:>8.0f} {fig['p50']:>7.2f} {fig['p99']:>7.2f} {fig['non2xx']:>8.0f} "
            f"{fig['rate'] / peak['gateway']['rate']:>9.2f} {vs_node:>6}  {rounds}"
        )
    print("\nHops that run an action against the reference core (gateway, same workload shape):")
    for name, fig in actions.items():
        rounds = ", ".join(str(round(r["rate"])) for r in action_runs[name])
        print(
            f"{name:34} {fig['rate']:>8.0f} {fig['p50']:>7.2f} {fig['p99']:>7.2f} {fig['non2xx']:>8.0f} "
            f"{fig['rate'] / peak['gateway']['rate']:>9.2f}  {rounds}"
        )
    print("\nRatios (targets in docs/performance.md):")
    if node:
        print(
            f"  gateway / ussd-menu-builder hops/s: {peak['gateway']['rate'] / node['rate']:.2f}",
            "(target >= 1.0)",
        )
    print(f"  gateway / Flask floor: {peak['gateway']['rate'] / peak['Flask + redis floor']['rate']:.2f}")
    print(
        f"  gateway / raw WSGI floor: {peak['gateway']['rate'] / peak['raw WSGI + redis floor']['rate']:.2f}"
    )
    print(f"  lane / Flask route: {peak['gateway']['rate'] / peak['gateway, Flask route']['rate']:.2f}")
    print(
        f"  gateway at half its peak ({target:.0f} hops/s offered, {paced['rate']:.0f} served): "
        f"p50 {paced['p50']:.2f} ms, p99 {paced['p99']:.2f} ms  (target p99 <= 25 ms)"
    )
    print(
        f"  Redis per live session (MEMORY USAGE of all its phone's keys): "
        f"{memory['memory_usage_per_session']:.0f} B avg, {memory['memory_usage_max']:.0f} B max "
        "(target <= 512 B); "
        f"used_memory delta {memory['used_memory_delta_per_session']:.0f} B"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
