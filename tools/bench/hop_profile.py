"""CPU per hop, broken down by stage, in one process: `python -m tools.bench.hop_profile`.

Builds the gateway with `create_app` against a Redis of its own (embedded redis-server on a free
port) and the reference core service (the first screen asks it who is calling, as deployed), then
plays the benchmark's workload (dial, Help, back; every session its own phone, never dialled before, or
with `--repeat-callers` dialled just before, so who is calling is remembered) straight
into the WSGI callable the server would call (`app.wsgi_app`: the callback lane, or Flask when the lane
is off), so no HTTP server or load generator shares the figures. Prints CPU microseconds per hop (the
process's CPU time, which excludes waiting on Redis) and, from cProfile, the share of each stage.
Run it under `py-spy record` for a flame graph. Works on any checkout whose `app.create_app` builds
the gateway (run from that checkout's root).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, os.getcwd())

from tools.bench.wsgi_environ import environ_for  # noqa: E402

# Stage -> functions whose cumulative time is that stage (first match wins, in this order).
STAGES = {
    "parse (form, phone, transcript)": ("parse_form", "read_form", "normalise_phone", "transcript_hop"),
    "Redis begin (lock, read)": ("begin",),
    "Redis commit (save, unlock, audit XADD)": ("commit",),
    "audit event fields": ("hop_event",),
    "engine + render (and the core lookup below)": ("_open", "_continue"),
    "  of which: who is calling (core, first screen)": ("identify_caller",),
    "draft watch (after the save)": ("_watch",),
    "metrics": ("record", "inc", "observe"),
}


def bodies(
    sessions: int, steps: tuple[str, ...] = ("", "7", "7*0"), tag: str = "P", first_phone: int = 0
) -> list[bytes]:
    out = []
    for step in steps:
        for n in range(sessions):
            form = {
                "sessionId": f"{tag}{n}",
                "serviceCode": "*384*123#",
                "phoneNumber": f"+2547{20000000 + first_phone + n}",
                "networkCode": "63902",
                "text": step,
            }
            out.append(urlencode(form).encode())
    # Interleaved like the benchmark: every session's dial, then every session's option, then back.
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=3000)
    parser.add_argument("--profile", action="store_true", help="cProfile stage breakdown")
    parser.add_argument(
        "--repeat-callers",
        action="store_true",
        help="every measured session's phone dialled just before (its caller remembered); "
        "default: phones never dialled (each dial asks the core)",
    )
    args = parser.parse_args()

    from tools.run_all import free_port, redis_command, wait_for_port

    work = Path(tempfile.mkdtemp(prefix="hop-profile-"))
    port, core_port = free_port(), free_port()
    server = subprocess.Popen(redis_command(port, work), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port, 20, server)
    os.environ.update(
        CORE_URL=f"http://127.0.0.1:{core_port}",
        CORE_PORT=str(core_port),
        CORE_DATABASE_URL=f"sqlite:///{work / 'core.db'}",
        CORE_REGISTER_URL=f"sqlite:///{work / 'register.db'}",
        CORE_ID_HASH_KEY="profile-national-id-hash-key",
    )
    core = subprocess.Popen(
        [sys.executable, "-m", "stand_ins.core_service"],
        env=os.environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port("127.0.0.1", core_port, 30, core)
    os.environ.update(
        REDIS_URL=f"redis://127.0.0.1:{port}/0",
        DATABASE_URL=f"sqlite:///{work / 'gateway.db'}",
        SECRET_KEY="profile-secret",  # noqa: S106 - a throwaway key for a throwaway Redis
        LOG_LEVEL="WARNING",
        RATE_LIMIT_PER_MINUTE="100000",
        PROMETHEUS_MULTIPROC_DIR=str(work / "prometheus"),
        AUDIT_ENABLED="1",
    )
    (work / "prometheus").mkdir()
    try:
        from app import create_app

        app = create_app()
        app.extensions["database"].upgrade()
        wsgi = app.wsgi_app
        replies: list[bytes] = []

        def start_response(status, headers):
            replies.append(status.encode())

        def play(batch: list[bytes]) -> None:
            for body in batch:
                environ = environ_for("/ussd/africastalking", body, "application/x-www-form-urlencoded")
                for chunk in wsgi(environ, start_response):
                    replies.append(chunk)

        # Warm up (imports, page caches, script loading) on phones the measured batch does not use,
        # unless its callers are to be repeat callers: then on exactly its phones.
        if args.repeat_callers:
            play(bodies(args.sessions, tag="W"))
            # Each warm-up session hung up: AT's end notice is what leaves its caller remembered.
            for n in range(args.sessions):
                app.extensions["hops"].session_ended(f"+2547{20000000 + n}", f"W{n}")
        else:
            play(bodies(200, tag="W", first_phone=5_000_000))
        work_batch = bodies(args.sessions)
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        play(work_batch)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        hops = len(work_batch)
        print(f"{hops} hops: {cpu / hops * 1e6:.0f} us CPU and {wall / hops * 1e6:.0f} us wall per hop")
        assert all(not r.startswith(b"END Sorry") for r in replies), "a hop failed"
        if profiler:
            stats = pstats.Stats(profiler)
            if os.environ.get("HOP_PROFILE_TOP"):
                stats.sort_stats("tottime").print_stats(int(os.environ["HOP_PROFILE_TOP"]))
            total = stats.total_tt  # type: ignore[attr-defined]
            print(f"  (under cProfile: {total / hops * 1e6:.0f} us per hop; shares below are of that)")
            by_name: dict[str, float] = {}
            for (_file, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
                by_name[name] = max(by_name.get(name, 0.0), ct)
            for stage, names in STAGES.items():
                seconds = sum(by_name.get(n, 0.0) for n in names)
                print(f"  {stage:42} {seconds / hops * 1e6:7.1f} us  {seconds / total:6.1%}")
    finally:
        for process in (server, core):
            process.terminate()
            process.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
