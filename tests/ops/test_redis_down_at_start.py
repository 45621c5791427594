"""A gateway node starts while its Redis is away, and turns ready by itself when it returns.

A machine that reboots with the rack (or a deploy during a Redis outage) must not leave a node that
crashed at start and waits for a human: the node comes up, says it is alive but not ready, answers
every USSD callback with the polite "busy" END, and takes traffic as soon as Redis is back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests

from gateway.replies import polite
from tests.ops.conftest import _require
from tests.support import ROOT, free_port
from tools.servers import ClusterGroup, SentinelGroup, cluster_ports, wait_for

# Starts processes or waits seconds on real time: scheduled first (tests/conftest.py).
pytestmark = pytest.mark.long

PHONE = "+254712000914"  # no other test's: the shared Redis may hold another test's draft


def _hop(url: str, session: str, text: str = "") -> requests.Response:
    form = {
        "sessionId": session,
        "serviceCode": "*384*123#",
        "phoneNumber": PHONE,
        "networkCode": "63902",
        "text": text,
    }
    return requests.post(f"{url}/ussd/africastalking", data=form, timeout=15)


def _status(url: str, path: str) -> int:
    return requests.get(f"{url}{path}", timeout=3).status_code


@pytest.fixture()
def folder():
    path = Path(tempfile.mkdtemp(prefix="ops-redis-down-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_a_node_starts_with_its_session_cluster_and_queue_primary_down_and_turns_ready_when_they_return(
    folder,
):
    _require("redis-server", "redis-sentinel", "redis-cli")
    from common.db import Database

    cluster = ClusterGroup(folder / "cluster", cluster_ports(3))
    sentinels = SentinelGroup(folder / "sentinel", [free_port() for _ in range(5)])
    database_url = f"sqlite:///{folder / 'g.db'}"
    Database(database_url).upgrade()
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "SESSION_REDIS_URL": cluster.url(),
        "QUEUE_REDIS_URL": sentinels.url(),
        "DATABASE_URL": database_url,
        "CORE_URL": f"http://127.0.0.1:{free_port()}",
        "GATEWAY_WORKERS": "1",
        "DRAIN_FILE": str(folder / "drain"),
        "VAR_DIR": str(folder),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    log = open(folder / "node.log", "wb")  # noqa: SIM115
    node = subprocess.Popen([sys.executable, "-m", "tools.serve"], cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _status(url, "/livez") == 200, 60), (folder / "node.log").read_text()
        unready = requests.get(f"{url}/readyz", timeout=3)
        assert unready.status_code == 503
        assert unready.json()["status"] == "unavailable"
        assert unready.json()["session_redis"].startswith("down: ")
        assert unready.json()["queue_redis"].startswith("down: ")
        busy = _hop(url, "ATUid_down_1")
        assert busy.status_code == 200
        assert busy.text == f"END {polite('busy')}"

        cluster.start()
        # The queue role still down: the node stays unready, and says which part is missing.
        assert wait_for(lambda: requests.get(f"{url}/readyz", timeout=3).json()["session_redis"] == "ok", 30)
        assert requests.get(f"{url}/readyz", timeout=3).status_code == 503
        sentinels.start()
        assert wait_for(lambda: _status(url, "/readyz") == 200, 30), requests.get(f"{url}/readyz").text
        assert _hop(url, "ATUid_down_2").text.startswith("CON Welcome to eCitizen")
        assert node.poll() is None
    finally:
        node.terminate()
        try:
            node.wait(15)
        except subprocess.TimeoutExpired:
            node.kill()
        log.close()
        sentinels.stop()
        cluster.stop()


def test_hops_answer_busy_while_the_whole_cluster_is_gone_and_resume_when_it_returns(folder, redis_server):
    """Every node of the session cluster lost at once: each hop gets the polite "busy" END (not
    the "something went wrong" of an unexpected error), and hops resume once the cluster is back.

    redis-py drops a startup node at each connection error and then raises its own
    `RedisClusterException`, not a `redis.ConnectionError`; with all of them dropped it could not
    rediscover the cluster after a failover. The session client reports "unreachable" as a
    connection error and gives the configured nodes back."""
    _require("redis-server", "redis-cli")
    from app import create_app
    from config import Settings
    from tests.conftest import Dialler

    cluster = ClusterGroup(folder / "cluster", cluster_ports(3)).start()
    settings = Settings.from_env(
        redis_url=redis_server.url,
        session_redis_url=cluster.url(),
        database_url=f"sqlite:///{folder / 'g.db'}",
        log_level="ERROR",
        core_url=f"http://127.0.0.1:{free_port()}",
    )
    app = create_app(settings)
    app.extensions["database"].upgrade()
    http = app.test_client()
    # phones whose keys sit on each of the three masters
    phones = [f"+2547120{n:05d}" for n in range(1, 31)]
    session_client = app.extensions["redis"]
    try:
        assert len({session_client.cluster.get_node_from_key(f"u:{{{p}}}:l").name for p in phones}) == 3
        assert Dialler(http, phone=phones[0], session_id="ATUid_gone_0").dial().startswith("CON Welcome")
        cluster.stop()
        answers = {Dialler(http, phone=p, session_id=f"ATUid_gone_{p}").dial() for p in phones}
        assert answers == {f"END {polite('busy')}"}
        assert http.get("/readyz").status_code == 503
        assert session_client.cluster.nodes_manager.startup_nodes  # given back: redis-py kept none
        cluster.start()
        assert wait_for(lambda: http.get("/readyz").status_code == 200, 30)
        for p in phones:
            assert Dialler(http, phone=p, session_id=f"ATUid_back_{p}").dial().startswith("CON Welcome")
    finally:
        cluster.stop()
