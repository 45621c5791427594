"""HAProxy as make cluster and docs/deploy.md configure it: with no gateway node ready, a USSD
callback still gets a polite END with HTTP 200 (never a 5xx); other paths get the 503."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import requests

from tests.support import free_port
from tools.servers import binary, haproxy_server


@pytest.fixture()
def lonely_haproxy():
    try:
        binary("haproxy")
    except SystemExit:
        pytest.skip("haproxy is not installed")
    folder = Path(tempfile.mkdtemp(prefix="ops-haproxy-"))
    # Two "nodes" nothing listens on: both fail their /readyz checks.
    server = haproxy_server(free_port(), [("node1", free_port()), ("node2", free_port())], folder)
    try:
        yield f"http://127.0.0.1:{server.start().port}"
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_no_ready_node_gives_the_aggregator_a_polite_end_not_a_5xx(lonely_haproxy):
    form = {"sessionId": "ATUid_lb", "serviceCode": "*384*123#", "phoneNumber": "+254712345678", "text": ""}
    answer = requests.post(f"{lonely_haproxy}/ussd/africastalking", data=form, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.text.startswith("END Service busy, please try again shortly.")
    assert "Huduma ina shughuli nyingi" in answer.text
    assert len(answer.text) <= 160  # as rendered, END included
    # An operator's or a probe's request is told the truth.
    assert requests.get(f"{lonely_haproxy}/readyz", timeout=10).status_code == 503
