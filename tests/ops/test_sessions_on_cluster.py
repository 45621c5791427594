"""Sessions on a real three-master Redis Cluster (the session role), queues on a plain Redis."""

from __future__ import annotations

import pytest

from config import Settings
from tests.conftest import Dialler
from tests.support import free_port


@pytest.fixture()
def cluster_app(redis_cluster, redis_server, redis_client, tmp_path):
    from app import create_app

    settings = Settings.from_env(
        redis_url=redis_server.url,
        session_redis_url=redis_cluster.url(),
        database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
        log_level="WARNING",
        core_url=f"http://127.0.0.1:{free_port()}",
    )
    app = create_app(settings)
    app.extensions["database"].upgrade()
    app.config["TESTING"] = True
    return app


def test_a_multi_hop_session_on_the_cluster(cluster_app):
    phone = Dialler(cluster_app.test_client(), phone="+254712345001", session_id="ATUid_cluster1")
    assert phone.dial().startswith("CON Welcome to eCitizen")
    assert "Help" in phone.press("7")
    assert "Support line" in phone.press("1")
    assert "Help" in phone.press("0")
    assert phone.press("00").startswith("CON Welcome")


def test_hop_events_reach_the_queue_redis_stream(cluster_app, redis_client):
    from tools.servers import wait_for

    phone = Dialler(cluster_app.test_client(), phone="+254712345002", session_id="ATUid_cluster2")
    phone.dial()
    phone.press("7")
    phone.press("1")
    # Off the hop path, through the pipe: wait for it rather than race it.
    assert wait_for(lambda: redis_client.xlen("audit:events") >= 3, 5)
    kinds = {fields[b"kind"] for _, fields in redis_client.xrange("audit:events")}
    assert kinds == {b"hop"}
    # Nothing of the audit trail lands on the cluster.
    cluster = cluster_app.extensions["redis"]
    assert cluster.exists("audit:events") == 0


def test_publishing_a_menu_version_on_the_cluster(cluster_app):
    from menus.live import CURRENT_KEY, announce, doc_key

    cluster = cluster_app.extensions["redis"]
    announce(cluster, "ecitizen", "v-test", {"id": "ecitizen"})
    assert cluster.hget(CURRENT_KEY, "ecitizen") == b"v-test"
    assert cluster.get(doc_key("ecitizen", "v-test")) is not None


def test_login_throttle_on_the_cluster(cluster_app):
    throttle = cluster_app.extensions["login_throttle"]
    # both counters of one attempt share the address's hash tag, so one slot takes the script
    waits = [throttle.attempt("ops@example.org", "127.0.0.9") for _ in range(6)]
    assert waits[:5] == [0] * 5 and waits[5] > 0


def test_resume_after_a_drop_reads_the_draft_on_the_cluster(cluster_app):
    """The begin script reads the dropped session under the phone's hash tag (same slot)."""
    client = cluster_app.test_client()
    first = Dialler(client, phone="+254712345003", session_id="ATUid_cluster3a")
    first.dial()
    assert "reference" in first.press("3").lower()  # an input: the call drops here
    again = Dialler(client, phone="+254712345003", session_id="ATUid_cluster3b")
    assert "Continue where you left off?" in again.dial()
    assert "reference" in again.press("1").lower()
