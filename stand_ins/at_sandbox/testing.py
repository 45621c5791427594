"""Helpers for tests that need the sandbox (or a callback receiver) over real HTTP on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response


class ServerThread:
    """Serves a WSGI app on a free 127.0.0.1 port in a thread (threaded: one thread per request).

    Use as a context manager; `url` is `http://127.0.0.1:<port>`.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        # A short poll interval: shutdown() waits up to one interval, and tests start many servers.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class FormRecorder:
    """A WSGI app that keeps every form POST it receives and answers `status` (200 by default)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[dict[str, str]] = []
        self.attempts = 0
        self._arrived = threading.Condition()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        form = request.form.to_dict()
        with self._arrived:
            self.attempts += 1
            if 200 <= self.status < 300:
                self.received.append(form)
                self._arrived.notify_all()
        return Response("ok", status=self.status)(environ, start_response)

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[dict[str, str]]:
        """The forms received once there are at least `count`, or as many as came within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while len(self.received) < count and time.monotonic() < deadline:
                self._arrived.wait(deadline - time.monotonic())
            return list(self.received)


def sandbox_app(**config: Any) -> Flask:
    """A sandbox app for tests: no delivery reports unless `DLR_URL` is given, short delays."""
    from stand_ins.at_sandbox.app import create_app

    return create_app({"DLR_URL": "", "DLR_DELAY_MS": 50, "DLR_RETRY_DELAY_MS": 50, **config})


@contextmanager
def running_sandbox(**config: Any) -> Iterator[ServerThread]:
    """A `sandbox_app(**config)` served on a free port; its delivery threads stop on exit."""
    from stand_ins.at_sandbox.app import close_app

    app = sandbox_app(**config)
    try:
        with ServerThread(app) as server:
            yield server
    finally:
        close_app(app)


def post_sms(base_url: str, timeout: float | tuple[float, float] = 5, **form: str) -> requests.Response:
    """POST a send request as the SDK would (form fields may override the defaults)."""
    fields = {"username": "sandbox", "to": "+254712345678", "message": "Habari", "bulkSMSMode": "1", **form}
    headers = {"apiKey": "test-key", "Accept": "application/json"}
    return requests.post(f"{base_url}/version1/messaging", data=fields, headers=headers, timeout=timeout)


def set_faults(base_url: str, faults: dict[str, Any]) -> dict[str, Any]:
    """Replace the sandbox's faults (`{}` clears them); returns what it now has."""
    answer = requests.post(f"{base_url}/sandbox/faults", json=faults, timeout=5)
    answer.raise_for_status()
    return answer.json()
