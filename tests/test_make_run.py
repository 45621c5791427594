"""`make run` as a newcomer uses it: everything starts, answers, and stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

import pytest
import requests

from tests.support import ROOT, free_port, wait_until

# Starts processes or waits seconds on real time: scheduled first (tests/conftest.py).
pytestmark = pytest.mark.long


def test_run_all_starts_everything_and_ctrl_c_stops_it(tmp_path):
    ports = {name: free_port() for name in ("PORT", "CORE_PORT", "AT_SANDBOX_PORT", "EMBEDDED_REDIS_PORT")}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "DATABASE_URL", "CORE_URL", "AT_API_URL")
    }
    env.update({k: str(v) for k, v in ports.items()})
    env.update(VAR_DIR=str(tmp_path), GATEWAY_WORKERS="1", LOG_LEVEL="WARNING")
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.run_all"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    gateway = f"http://127.0.0.1:{ports['PORT']}"
    try:
        assert wait_until(lambda: _ok(f"{gateway}/healthz"), timeout=60), "gateway never became healthy"
        form = {
            "sessionId": "ATUid_makerun",
            "serviceCode": "*384*123#",
            "phoneNumber": "+254712345678",
            "networkCode": "63902",
            "text": "",
        }
        reply = requests.post(f"{gateway}/ussd/africastalking", data=form, timeout=5)
        assert reply.text.startswith("CON Welcome to eCitizen")
        assert (tmp_path / "gateway.db").exists()  # SQLite under VAR_DIR, migrated
        with sqlite3.connect(tmp_path / "gateway.db") as db:  # and the menu versions seeded
            assert db.execute("SELECT tree_id, number FROM menu_versions").fetchall() == [("ecitizen", 1)]
        if (ROOT / "stand_ins" / "core_service").is_dir():
            assert _ok(f"http://127.0.0.1:{ports['CORE_PORT']}/health")
        if (ROOT / "stand_ins" / "at_sandbox").is_dir():
            assert _ok(f"http://127.0.0.1:{ports['AT_SANDBOX_PORT']}/sandbox/messages")
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "eCitizen USSD gateway is running" in output and "stopped." in output
    for port in ports.values():
        assert wait_until(lambda port=port: not _listening(port), timeout=5), f"port {port} open after Ctrl-C"


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
