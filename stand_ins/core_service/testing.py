"""Run WSGI apps (the core service, or a stub) on 127.0.0.1 in a thread, for tests and for the
gateway's fault tests: start, stop mid-test, restart on the same port; or the core service as its
own process, the way `make run` starts it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from stand_ins.core_service.app import create_app


class _QuietHandler(WSGIRequestHandler):
    # request lines carry phone numbers in query strings; tests stay as clean as production logs
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def unregistered_people(core_url: str, n: int = 1) -> list[dict[str, str]]:
    """`n` people from the running core's population register that nobody has registered as yet
    (`GET /dev/people?unregistered=1`): what a test registers instead of made-up people."""
    response = requests.get(f"{core_url}/dev/people", params={"unregistered": 1, "n": n}, timeout=5)
    response.raise_for_status()
    people = response.json()
    if len(people) < n:
        raise RuntimeError(f"the register has fewer than {n} unregistered people left")
    return people


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WsgiThread:
    """Serve `app` on 127.0.0.1:`port` (0 = any free one) from a daemon thread."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self.app = app
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WsgiThread:
        self._server = make_server(
            "127.0.0.1", self.port, self.app, threaded=True, request_handler=_QuietHandler
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; afterwards connections to the port are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> WsgiThread:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class CoreServer(WsgiThread):
    """The core service over real HTTP. `stop()` also stops its background thread; `start()` after
    `stop()` builds a fresh app on the same database and port, like a restarted process."""

    def __init__(self, config: dict[str, Any], port: int = 0) -> None:
        super().__init__(None, port)
        self.config = config

    @property
    def flask_app(self) -> Flask:
        return self.app

    def start(self) -> CoreServer:
        self.app = create_app(self.config)
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        if self.app is not None:
            self.app.extensions["core"].close()


ROOT = Path(__file__).resolve().parents[2]


def core_process_env(env: dict[str, str]) -> dict[str, str]:
    """A clean environment for `python -m stand_ins.core_service`: the caller's settings only, so
    nothing leaks in from the shell or the test run (a CORE_* or GATEWAY_ENV of its own)."""
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    return base | env


class CoreProcess:
    """`python -m stand_ins.core_service` (granian) on a free 127.0.0.1 port, with `env` as its whole
    configuration (see core_process_env), its output in `log`."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.env = core_process_env(env | {"CORE_PORT": str(self.port)})
        self.process: subprocess.Popen | None = None
        self.log_path = log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> CoreProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "stand_ins.core_service"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"core service did not start: {self.logs()[-2000:]}")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)

    def __enter__(self) -> CoreProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
