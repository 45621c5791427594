"""`python -m tools.serve`: one gateway node (granian) that drains before it stops.

What a process manager (systemd, `make cluster`) may rely on:
- before granian starts, the node waits up to `SCHEMA_WAIT_S` for the database schema to be at the
  newest migration (`flask --app app db upgrade` is a deploy step of its own; nodes never migrate);
- on SIGTERM (or SIGINT) the node turns unready at once (`/readyz` answers 503 while it still
  serves), keeps serving for `DRAIN_GRACE_S` so the load balancer sees it and sends no new hops,
  then stops granian, which finishes the hops in flight; all within `DRAIN_TIMEOUT_S`, after which
  whatever is left is killed. Exit status 0 after a clean drain.

Settings (environment): `PORT`, `HOST`, `GATEWAY_WORKERS`, `GATEWAY_THREADS` as for `make run`;
`DRAIN_TIMEOUT_S` (20), `DRAIN_GRACE_S` (2), `SCHEMA_WAIT_S` (120), `DRAIN_FILE` (default: a file
under VAR_DIR named after the port).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from config import ROOT, VAR_DIR
from tools.run_all import gateway_command


def _float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


def schema_is_current(database_url: str) -> bool:
    """True when the database is at Alembic's newest revision (the deploy step has run)."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    heads = set(ScriptDirectory.from_config(config).get_heads())
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads()) == heads
    finally:
        engine.dispose()


def wait_for_schema(database_url: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    announced = False
    while True:
        try:
            if schema_is_current(database_url):
                return True
        except Exception as exc:  # the database may not be up yet either
            if not announced:
                print(f"gateway node: waiting for the database ({type(exc).__name__})", file=sys.stderr)
                announced = True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def main() -> int:
    from config import Settings

    settings = Settings.from_env()
    port = int(os.environ.get("PORT", "8000"))
    drain_timeout = settings.drain_timeout_s
    grace = min(_float("DRAIN_GRACE_S", 2.0), drain_timeout / 2)
    drain_file = Path(settings.drain_file or VAR_DIR / "drain" / f"node-{port}")
    drain_file.parent.mkdir(parents=True, exist_ok=True)
    drain_file.unlink(missing_ok=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    if not wait_for_schema(settings.database_url, _float("SCHEMA_WAIT_S", 120)):
        print("gateway node: the schema is not current; run `flask --app app db upgrade`", file=sys.stderr)
        return 3
    if stop.is_set():
        return 0

    env = {**os.environ, "DRAIN_FILE": str(drain_file)}
    command = gateway_command(port)
    # granian waits this long for its workers to finish their requests before killing them.
    command += ["--workers-kill-timeout", str(max(int(drain_timeout - grace), 1))]
    # Same process group: a SIGKILL to the group (systemd's final kill, the drill) takes the whole
    # node; a graceful stop signals this supervisor alone, which then drains in order.
    granian = subprocess.Popen(command, cwd=ROOT, env=env)
    while not stop.is_set():
        if granian.poll() is not None:
            return granian.returncode or 1
        stop.wait(0.2)

    started = time.monotonic()
    drain_file.touch()  # /readyz answers 503 from now on
    print(f"gateway node :{port}: draining (unready; stopping in {grace:g} s)", file=sys.stderr, flush=True)
    # Keep serving while the load balancer's checks notice; hops still arriving are answered.
    while time.monotonic() - started < grace and granian.poll() is None:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        granian.send_signal(signal.SIGTERM)
    try:
        code = granian.wait(max(drain_timeout - (time.monotonic() - started), 0.1))
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            granian.kill()
        granian.wait()
        code = 1
    drain_file.unlink(missing_ok=True)
    took = time.monotonic() - started
    print(f"gateway node :{port}: stopped after {took:.1f} s (exit {code})", file=sys.stderr, flush=True)
    return 0 if code in (0, -signal.SIGTERM) else code


if __name__ == "__main__":
    sys.exit(main())
