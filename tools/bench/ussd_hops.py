"""`make bench`: the gateway side by side with its floors and with the fastest USSD stack, in one run.

Four servers, same workload, same machine, loaded one after another by wrk (a separate process):

- the gateway as deployed: granian, the audit trail on, the RQ worker running, the callback lane,
  the reference core service answering "who is calling" on each new caller's dial; twice: with
  **new callers** (every session a phone no run has dialled: the dial waits on the core) and with
  **repeat callers** (the measured run dials the same phones, in the same order, as a warm-up run
  twice as long just before it, whose sessions each get Africa's Talking's end-of-session notice:
  a caller is remembered once their session is over, CALLER_TTL_S);
- the Flask + redis floor: a bare Flask handler doing one GET and one SET per hop;
- the raw WSGI + redis floor: the same GET and SET with no framework at all;
- ussd-menu-builder on Node (Debian's nodejs; `npm install` into the run's temp dir, never into the
  repository), Redis sessions through its sessionConfig, 2 processes via node:cluster; twice:
  served by Node's own `http` module, and by Express as the library's README serves it.

Plus, for what each change bought, the gateway with its callbacks served by Flask's route
(CALLBACK_LANE=0). Workload: 32 connections, 2,000 interleaved sessions of dial, one menu option,
back; every wrk thread its own sessions and phones. Three interleaved rounds with a rotating order;
medians and every round's figure are printed, with ratios. Then hops that run an action against the
reference core (Apply from an unregistered phone, Track an unknown reference), the p99 at half the
gateway's peak (new callers) for the gateway and, paced at the same rate, its floors, and Redis
memory per live session (MEMORY USAGE). Prints figures; asserts nothing.

Prerequisites (the benchmark's own, not the test suite's): `apt-get install wrk nodejs npm`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import resource
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
GATEWAY = "gateway, new callers"
REPEAT = "gateway, repeat callers"
RAW = "raw WSGI + redis floor"
ROUTE = "gateway, Flask route, new callers"
NODE_HTTP = "ussd-menu-builder, Node http"
NODE_EXPRESS = "ussd-menu-builder, Express"
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


_TICKS = os.sysconf("SC_CLK_TCK")


def session_cpu(names: dict[int, str]) -> dict[str, float]:
    """CPU seconds so far of every process in the sessions `names` ({session id: name}; each server
    and helper is started in a session of its own, so its workers count with it), summed by name."""
    totals = dict.fromkeys(names.values(), 0.0)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        name = names.get(int(fields[3]))
        if name is not None:
            totals[name] += (int(fields[11]) + int(fields[12])) / _TICKS
    return totals


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# Phones of one run: wrk's threads take 100,000 numbers each from the run's base (sessions.lua).
PHONES_PER_RUN = 400_000
_runs = itertools.count(1)


def wrk(
    url: str,
    connections: int,
    seconds: int,
    delay_ms: float = 0,
    steps: str = MENU_HOPS,
    threads: int = 4,
    phone_base: int | None = None,
    end_notice: bool = False,
    watch: dict[int, str] | None = None,
) -> dict[str, float]:
    """One wrk run; `phone_base` None: phones no earlier run of this process dialled. `end_notice`:
    each session's last hop is followed by AT's end-of-session notice (one more request). `watch`:
    {session id: name} of processes whose CPU per hop during the run is added as `cpu <name>` (µs),
    with wrk's own as `cpu wrk`."""
    run = next(_runs)
    env = {
        **os.environ,
        "BENCH_END_NOTICE": "1" if end_notice else "0",
        "BENCH_DELAY_MS": str(int(delay_ms)),
        "BENCH_STEPS": steps,
        "BENCH_THREADS": str(threads),
        "BENCH_SESSIONS": "2000",
        "BENCH_PHONE_BASE": str(run * PHONES_PER_RUN if phone_base is None else phone_base),
        "BENCH_RUN": f"{os.getpid()}n{run}",
    }
    watch = watch or {}
    cpu_before, wrk_before = session_cpu(watch), children_cpu()
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
    if watch:
        cpu_after, hops = session_cpu(watch), figures["requests"]
        for name in cpu_after:
            figures[f"cpu {name}"] = (cpu_after[name] - cpu_before[name]) * 1e6 / hops
        figures["cpu wrk"] = (children_cpu() - wrk_before) * 1e6 / hops
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
    repeat_callers: bool = False,
    shared: dict[int, str] | None = None,
):
    """Start one server (and its helper processes), warm it up, load it for `args.seconds`, stop it.
    `repeat_callers`: the warm-up, twice as long as the measured run, dials the same phones in the
    same order and ends each session with AT's end notice (the caller is remembered once a session
    is over), so the measured run's callers dialled and hung up a few seconds before. `shared`:
    {session id: name} of the processes every variant uses (Redis, the core), whose CPU per hop is
    reported beside the server's and its helpers' (see `wrk`)."""
    log = Path(tempfile.gettempdir()) / f"bench-{name.replace(' ', '_')}.log"
    process = start(command, env, port, log)
    extra = [
        subprocess.Popen(
            h, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        for h in helpers
    ]
    url = f"http://127.0.0.1:{port}/ussd/africastalking"
    watch = {
        process.pid: "server",
        **dict.fromkeys((helper.pid for helper in extra), "worker"),
        **(shared or {}),
    }
    try:
        if repeat_callers:
            base = next(_runs) * PHONES_PER_RUN
            client = redis.Redis.from_url(env["REDIS_URL"])
            before = sum(1 for _ in client.scan_iter("u:*:c", count=1000))  # earlier runs' callers
            warm = wrk(url, args.connections, 2 * args.seconds, steps=steps, phone_base=base, end_notice=True)
            remembered = sum(1 for _ in client.scan_iter("u:*:c", count=1000)) - before
            figures = wrk(
                url, args.connections, args.seconds, delay_ms, steps=steps, phone_base=base, watch=watch
            )
            sessions = figures["requests"] / len(steps.split(","))
            print(
                f"  {name}: {remembered} callers remembered after the warm-up "
                f"({warm['non2xx']:.0f} non-2xx), {sessions:.0f} sessions measured",
                flush=True,
            )
            return figures
        wrk(url, args.connections, 2, steps=steps)  # warm up: imports, connection pools, page caches
        return wrk(url, args.connections, args.seconds, delay_ms, steps=steps, watch=watch)
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
    """`npm install ussd-menu-builder redis express` under `workdir`; None (and why) when Node is
    missing. Prints the versions installed."""
    if not (shutil.which("node") and shutil.which("npm")):
        print("ussd-menu-builder skipped: needs Debian's nodejs and npm (apt-get install nodejs npm)")
        return None
    folder = workdir / "node"
    folder.mkdir()
    subprocess.run(
        [
            "npm",
            "install",
            "--silent",
            "--no-audit",
            "--no-fund",
            "ussd-menu-builder@1.2.0",
            "redis@4",
            "express@4",
        ],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    modules = folder / "node_modules"
    versions = {
        name: json.loads((modules / name / "package.json").read_text())["version"]
        for name in ("ussd-menu-builder", "redis", "express")
    }
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"Node {node}: " + ", ".join(f"{name} {version}" for name, version in versions.items()))
    return modules


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

    def node_command(_port: int) -> list[str]:
        return ["node", str(NODE_APP)]

    node_env = {**base_env, "NODE_PATH": str(node_modules), "NODE_WORKERS": "2"}
    # name -> (command, environment, helper processes, repeat callers)
    variants: dict[str, tuple] = {
        GATEWAY: (gateway_command, gateway_env, (rq_worker,), False),
        REPEAT: (gateway_command, gateway_env, (rq_worker,), True),
        "Flask + redis floor": (python_app("tools.bench.floor_app:create_app"), base_env, (), False),
        RAW: (python_app("tools.bench.raw_floor:create_app"), base_env, (), False),
        ROUTE: (gateway_command, {**gateway_env, "CALLBACK_LANE": "0"}, (rq_worker,), False),
    }
    if node_modules is not None:
        variants[NODE_HTTP] = (node_command, {**node_env, "NODE_SERVER": "http"}, (), False)
        variants[NODE_EXPRESS] = (node_command, {**node_env, "NODE_SERVER": "express"}, (), False)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    action_runs: dict[str, list[dict[str, float]]] = {name: [] for name in ACTION_HOPS}

    def load(name: str, steps: str = MENU_HOPS, delay_ms: float = 0) -> dict[str, float]:
        command, env, helpers, repeat = variants[name]
        port = free_port()
        env = {**env, "PORT": str(port)}
        shared = {redis_process.pid: "redis", core_process.pid: "core"}
        return serve_and_load(name, command(port), env, port, args, delay_ms, steps, helpers, repeat, shared)

    try:
        names = list(variants)
        for round_number in range(args.rounds):
            # Interleaved and rotated: a slow moment of the shared machine hits every variant alike.
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                runs[name].append(load(name))
            for label, steps in ACTION_HOPS.items():
                action_runs[label].append(load(GATEWAY, steps))
        peak = {name: {k: median([r[k] for r in rs]) for k in rs[0]} for name, rs in runs.items()}
        actions = {name: {k: median([r[k] for r in rs]) for k in rs[0]} for name, rs in action_runs.items()}
        target = peak[GATEWAY]["rate"] / 2
        delay = args.connections * 1000 / target  # each connection waits this long between hops
        # The same offered rate for the floors: what the machine and wrk's pacing add on their own.
        paced_names = [name for name in (GATEWAY, REPEAT, RAW, NODE_HTTP) if name in variants]
        paced = {name: load(name, delay_ms=delay) for name in paced_names}
        memory = session_memory(redis_url, gateway_env, free_port())
    finally:
        stop(core_process)
        stop(redis_process)

    print(
        f"\nUSSD hops: wrk {args.connections} connections, 2,000 interleaved sessions (dial, Help, back), "
        f"{args.seconds}s per run, {args.rounds} interleaved rounds, {os.cpu_count()} cores, "
        f"load average at the end {os.getloadavg()[0]:.2f}"
    )
    print(
        "New callers: every session a phone no run dialled before (the dial asks the core who is calling);\n"
        "repeat callers: the same phones as a warm-up twice as long just before, each session ended with\n"
        "AT's end notice (remembered)."
    )
    nodes = [n for n in (NODE_HTTP, NODE_EXPRESS) if n in peak]
    print(f"{'':34} {'hops/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8} {'/gateway':>9}", end="")
    print("".join(f" {'/' + n.split(', ')[-1]:>13}" for n in nodes) + "  rounds")
    for name, fig in peak.items():
        rounds = ", ".join(str(round(r["rate"])) for r in runs[name])
        ratios = "".join(f" {fig['rate'] / peak[n]['rate']:>13.2f}" for n in nodes)
        print(
            f"{name:34} {fig['rate']:>8.0f} {fig['p50']:>7.2f} {fig['p99']:>7.2f} {fig['non2xx']:>8.0f} "
            f"{fig['rate'] / peak[GATEWAY]['rate']:>9.2f}{ratios}  {rounds}"
        )
    print("\nCPU µs per hop by process, medians of the rounds (two cores: 2,000,000 µs of CPU a second):")
    parts = ("server", "worker", "redis", "core", "wrk")
    print(f"{'':34}" + "".join(f" {part:>8}" for part in parts) + f" {'total':>8}")
    for name, fig in peak.items():
        cells = [fig.get(f"cpu {part}", 0.0) for part in parts]
        print(f"{name:34}" + "".join(f" {cell:>8.0f}" for cell in cells) + f" {sum(cells):>8.0f}")
    print("\nHops that run an action against the reference core (gateway, new callers, same workload shape):")
    for name, fig in actions.items():
        rounds = ", ".join(str(round(r["rate"])) for r in action_runs[name])
        print(
            f"{name:34} {fig['rate']:>8.0f} {fig['p50']:>7.2f} {fig['p99']:>7.2f} {fig['non2xx']:>8.0f} "
            f"{fig['rate'] / peak[GATEWAY]['rate']:>9.2f}  {rounds}"
        )
    print("\nRatios (targets in docs/performance.md):")
    for node in nodes:
        for gateway in (GATEWAY, REPEAT):
            print(
                f"  {gateway} / {node}: {peak[gateway]['rate'] / peak[node]['rate']:.2f}",
                "(target >= 1.0)",
            )
    print(f"  gateway / Flask floor: {peak[GATEWAY]['rate'] / peak['Flask + redis floor']['rate']:.2f}")
    print(f"  gateway / raw WSGI floor: {peak[GATEWAY]['rate'] / peak[RAW]['rate']:.2f}")
    print(f"  lane / Flask route: {peak[GATEWAY]['rate'] / peak[ROUTE]['rate']:.2f}")
    print(f"  repeat callers / new callers: {peak[REPEAT]['rate'] / peak[GATEWAY]['rate']:.2f}")
    print(f"Paced at half the gateway's peak ({target:.0f} hops/s offered to each; target p99 <= 25 ms):")
    for name, fig in paced.items():
        print(
            f"  {name:34} {fig['rate']:>6.0f} served  p50 {fig['p50']:6.2f} ms  p90 {fig['p90']:6.2f} ms  "
            f"p99 {fig['p99']:7.2f} ms"
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
