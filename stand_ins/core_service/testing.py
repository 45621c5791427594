"""Run WSGI apps (the core service, or a stub) on 127.0.0.1 in a thread, for tests and for the
gateway's fault tests: start, stop mid-test, restart on the same port."""

from __future__ import annotations

import socket
import threading
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
