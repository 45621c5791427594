"""A gateway node under granian, started by tools/serve.py, drains on SIGTERM: it turns unready,
finishes the hop in flight and exits within DRAIN_TIMEOUT_S."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests.support import ROOT, free_port
from tools.servers import wait_for

# Starts processes or waits seconds on real time: scheduled first (tests/conftest.py).
pytestmark = pytest.mark.long

CORE_DELAY_S = 2.0


class _SlowCore(BaseHTTPRequestHandler):
    """A core service that takes CORE_DELAY_S to answer anything (not found)."""

    def do_GET(self):  # noqa: N802 - http.server's name
        time.sleep(CORE_DELAY_S)
        body = b'{"error": "not_found", "message": "no such application"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def slow_core():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _SlowCore)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _hop(url: str, session: str, text: str) -> requests.Response:
    form = {
        "sessionId": session,
        "serviceCode": "*384*123#",
        # a phone no other test uses: the shared Redis may hold another test's draft for the usual one
        "phoneNumber": "+254712000913",
        "networkCode": "63902",
        "text": text,
    }
    return requests.post(f"{url}/ussd/africastalking", data=form, timeout=15)


def test_sigterm_turns_the_node_unready_finishes_the_hop_in_flight_and_exits(redis_server, slow_core):
    from common.db import Database

    folder = Path(tempfile.mkdtemp(prefix="ops-drain-"))
    database_url = f"sqlite:///{folder / 'g.db'}"
    Database(database_url).upgrade()  # the deploy step; the node only waits for it
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "REDIS_URL": redis_server.url,
        "DATABASE_URL": database_url,
        "CORE_URL": slow_core,
        "GATEWAY_WORKERS": "1",
        "DRAIN_TIMEOUT_S": "8",
        "DRAIN_GRACE_S": "0.5",
        "DRAIN_FILE": str(folder / "drain"),
        "VAR_DIR": str(folder),
        "LOG_LEVEL": "WARNING",
    }
    log = open(folder / "node.log", "wb")  # noqa: SIM115
    node = subprocess.Popen([sys.executable, "-m", "tools.serve"], cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: requests.get(f"{url}/readyz", timeout=1).status_code == 200, 30), (
            folder / "node.log"
        ).read_text()
        _hop(url, "ATUid_drain", "")
        assert "reference" in _hop(url, "ATUid_drain", "3").text.lower()

        in_flight: dict[str, object] = {}

        def slow_hop() -> None:
            started = time.monotonic()
            response = _hop(url, "ATUid_drain", "3*ECZ7K3Q9P")
            in_flight.update(status=response.status_code, body=response.text, took=time.monotonic() - started)

        hop = threading.Thread(target=slow_hop)
        hop.start()
        time.sleep(0.3)  # the hop is now waiting on the slow core service
        assert "status" not in in_flight
        term_at = time.monotonic()
        node.send_signal(signal.SIGTERM)

        seen_unready = wait_for(lambda: requests.get(f"{url}/readyz", timeout=1).status_code == 503, 2)
        assert seen_unready, "readyz never answered 503 while draining"
        assert requests.get(f"{url}/livez", timeout=1).status_code == 200
        node.wait(10)
        exited_after = time.monotonic() - term_at
        hop.join(10)
    finally:
        if node.poll() is None:
            node.kill()
        log.close()

    assert in_flight["status"] == 200
    assert str(in_flight["body"]).startswith(("CON ", "END "))
    assert in_flight["took"] >= CORE_DELAY_S  # it really was in flight across the SIGTERM
    assert node.returncode == 0
    assert exited_after < 8, f"exited {exited_after:.1f} s after SIGTERM"
    assert exited_after >= CORE_DELAY_S - 0.3 - 0.1  # it waited for the hop
