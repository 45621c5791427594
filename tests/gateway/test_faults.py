"""Faults: Redis gone, concurrent hops of one session, and what logs may not contain."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import yaml

from config import Settings
from tests.menus.sample_tree import sample
from tests.support import GatewayServer, free_port

# The hop path: no SQL (tests/conftest.py runs these on SQLite only and fails one that runs SQL).
pytestmark = pytest.mark.sql_free

HOP = {
    "sessionId": "ATUid_fault",
    "serviceCode": "*384*123#",
    "phoneNumber": "+254712345678",
    "networkCode": "63902",
}
BUSY = (
    "END Service busy, please try again shortly.\nHuduma ina shughuli nyingi, tafadhali jaribu tena baadaye."
)


@pytest.mark.uses_sql
def test_redis_unreachable_gives_busy_in_both_languages_within_a_second(database_url):
    from app import create_app

    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(Settings.from_env(redis_url=dead, database_url=database_url))
    client = app.test_client()
    started = time.monotonic()
    response = client.post("/ussd/africastalking", data={**HOP, "text": ""})
    assert time.monotonic() - started < 1.0
    assert response.status_code == 200
    assert response.get_data(as_text=True) == BUSY
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json["redis"].startswith("down") and health.json["database"] == "ok"
    assert client.get("/readyz").status_code == 503 and client.get("/livez").status_code == 200
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'ussd_hops_total{outcome="redis_down"}' in metrics


@pytest.mark.uses_sql
def test_healthz_ok_and_metrics_exposed(client):
    client.post("/ussd/africastalking", data={**HOP, "text": ""})
    health = client.get("/healthz")
    assert health.status_code == 200
    assert (health.json["status"], health.json["redis"], health.json["database"]) == ("ok", "ok", "ok")
    text = client.get("/metrics").get_data(as_text=True)
    assert "ussd_hop_latency_seconds_bucket" in text and 'ussd_hops_total{outcome="start"}' in text


@pytest.fixture()
def live_gateway(redis_server, database_url):
    server = GatewayServer(
        {
            "REDIS_URL": redis_server.url,
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "INFO",
            "RATE_LIMIT_PER_MINUTE": "1000",
        },
        workers=2,
    ).start()
    yield server
    server.stop()


def test_concurrent_identical_hops_are_processed_one_at_a_time(live_gateway, redis_client):
    url = f"{live_gateway.url}/ussd/africastalking"
    session = {**HOP, "sessionId": "ATUid_concurrent"}
    assert requests.post(url, data={**session, "text": ""}, timeout=5).text.startswith("CON Welcome")

    def hop(text):
        return requests.post(url, data={**session, "text": text}, timeout=10).text

    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(hop, ["7"] * 24))
    assert len(set(replies)) == 1 and replies[0].startswith("CON Help")
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(hop, ["7*4"] * 24))
    assert len(set(replies)) == 1 and replies[0].startswith("CON Choose 3 Track application")
    # the state is consistent: back from the topic lands on Help, exactly one level up
    assert hop("7*4*0").startswith("CON Help")
    assert hop("7*4*0*0").startswith("CON Welcome")


def test_logs_never_contain_a_national_id_or_pin(redis_server, database_url, tmp_path):
    trees = tmp_path / "trees"
    trees.mkdir()
    (trees / "sample.yaml").write_text(yaml.safe_dump(sample()))
    server = GatewayServer(
        {
            "REDIS_URL": redis_server.url,
            "DATABASE_URL": database_url,
            "MENU_TREES_DIR": str(trees),
            "LOG_LEVEL": "DEBUG",
        }
    ).start()
    try:
        url = f"{server.url}/ussd/africastalking"
        form = {**HOP, "serviceCode": "*384*999#", "sessionId": "ATUid_secret"}
        keys = ["1", "27654321", "01/02/1990", "9372", "9372"]
        for i in range(len(keys) + 1):
            reply = requests.post(url, data={**form, "text": "*".join(keys[:i])}, timeout=5).text
        assert reply.startswith("END ")  # reached the end of the register branch
        # and a garbage hop carrying them in the session id and phone fields
        requests.post(
            url, data={**form, "sessionId": "27654321", "phoneNumber": "9372", "text": ""}, timeout=5
        )
    finally:
        server.stop()
    logs = server.logs()
    assert '"event": "hop"' in logs
    # as whole values: a timestamp's microseconds or a hex digest may hold the same four digits
    assert not re.search(r"(?<![0-9a-fA-F])(27654321|9372)(?![0-9a-fA-F])", logs)
    assert "+254712345678" not in logs


def test_no_5xx_even_when_the_engine_breaks(app, client, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(app.extensions["hops"], "_advance", explode)
    response = client.post("/ussd/africastalking", data={**HOP, "text": ""})
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("END Sorry, something went wrong.")
    # the lock was released: the next hop is served normally
    monkeypatch.undo()
    assert (
        client.post("/ussd/africastalking", data={**HOP, "text": "7"})
        .get_data(as_text=True)
        .startswith("CON")
    )
