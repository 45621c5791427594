import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from stand_ins.at_sandbox.testing import post_sms, set_faults
from tests.support import wait_until
from tools.run_all import free_port

ROOT = Path(__file__).resolve().parents[3]


def test_python_m_at_sandbox_serves_with_granian_concurrently(tmp_path):
    port = free_port()
    env = {**os.environ, "AT_SANDBOX_PORT": str(port), "AT_SANDBOX_DLR_URL": "", "AT_SANDBOX_THREADS": "32"}
    log = (tmp_path / "sandbox.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "stand_ins.at_sandbox"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            assert server.poll() is None, (tmp_path / "sandbox.log").read_text()
            try:
                return requests.get(f"{url}/sandbox/health", timeout=0.5).ok
            except requests.RequestException:
                return False

        assert wait_until(healthy, timeout=15, interval=0.05), "sandbox did not start"
        answer = post_sms(url)
        assert answer.status_code == 201
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.headers["Server"] == "granian"

        set_faults(url, {"latency_ms": 300})
        started = time.monotonic()
        with ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(lambda _: post_sms(url).status_code, range(20)))
        assert codes == [201] * 20
        assert time.monotonic() - started < 3.5  # 20 x 300 ms would be 6 s if served one at a time
        assert len(requests.get(f"{url}/sandbox/messages", timeout=5).json()) == 21
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
