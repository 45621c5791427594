"""SMS worker processes for tests: `flask --app app sms worker`, as `make run` starts them, each in
its own process group so a test can `kill -9` it (and RQ's scheduler child with it)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from rq import Worker

from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).parent / "flask")


def worker_env(redis_url: str, database_url: str, sandbox_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "AT_API_URL": sandbox_url,
        "AT_TIMEOUT_S": "2,2",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "console",
        "SMS_STUCK_AFTER_S": "3",
        "SMS_REQUEUE_AFTER_S": "2",
        "SMS_SWEEP_INTERVAL_S": "0.5",
        "SMS_RETRY_DELAYS_S": "0.5,1,2",
        "SMS_MAX_ATTEMPTS": "30",
        **extra,
    }


class SmsWorkerProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="sms-worker-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [FLASK, "--app", "app", "sms", "worker"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill9(self) -> None:
        """SIGKILL the worker and its scheduler child: nothing gets to clean up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()
        else:
            self.kill9()

    def logs(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")


def start_workers(env: dict[str, str], count: int, connection) -> list[SmsWorkerProcess]:
    """Start `count` workers and wait until RQ lists them (or fail with their logs)."""
    before = len(Worker.all(connection=connection))
    workers = [SmsWorkerProcess(env) for _ in range(count)]
    if not wait_until(lambda: len(Worker.all(connection=connection)) >= before + count, timeout=30):
        logs = "\n".join(w.logs()[-2000:] for w in workers)
        for worker in workers:
            worker.stop()
        raise RuntimeError(f"sms workers did not start:\n{logs}")
    return workers
