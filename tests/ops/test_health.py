"""/livez, /readyz and /healthz: what makes a node unready, and what must not."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from config import Settings
from tests.conftest import Dialler
from tests.support import free_port
from tools.servers import redis_server as start_redis


def _app(**overrides):
    from app import create_app

    app = create_app(Settings.from_env(log_level="WARNING", **overrides))
    app.config["TESTING"] = True
    return app


def test_ready_when_both_redis_roles_take_writes(client):
    assert client.get("/livez").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ok", "session_redis": "ok", "queue_redis": "ok"}


def test_a_down_database_does_not_make_a_node_unready_and_hops_go_on(redis_server, redis_client):
    app = _app(
        redis_url=redis_server.url,
        database_url=f"postgresql+psycopg://gateway:x@127.0.0.1:{free_port()}/gateway",
    )
    client = app.test_client()
    ready = client.get("/readyz?full=1")
    assert ready.status_code == 200
    assert ready.json["database"].startswith("down")
    assert Dialler(client, session_id="ATUid_nodb").dial().startswith("CON Welcome")


def test_a_primary_demoted_to_replica_makes_the_node_unready(redis_server, redis_client):
    """PING still answers on a replica; only a write shows that hops would fail with READONLY."""
    folder = Path(tempfile.mkdtemp(prefix="ops-replica-"))
    replica = start_redis("replica", free_port(), folder, replica_of=redis_server.port).start()
    try:
        app = _app(redis_url=redis_server.url, session_redis_url=f"redis://127.0.0.1:{replica.port}/0")
        assert app.extensions["redis"].ping()
        ready = app.test_client().get("/readyz")
        assert ready.status_code == 503
        assert ready.json["session_redis"] == "down: ReadOnlyError"
        assert ready.json["queue_redis"] == "ok"
    finally:
        replica.stop()


def test_queue_redis_down_makes_the_node_unready(redis_server, redis_client):
    app = _app(redis_url=redis_server.url, queue_redis_url=f"redis://127.0.0.1:{free_port()}/0")
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503 and ready.json["queue_redis"].startswith("down")


def test_a_draining_node_is_unready_but_alive(redis_server, redis_client, tmp_path):
    flag = tmp_path / "drain"
    app = _app(redis_url=redis_server.url, drain_file=str(flag))
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    flag.touch()
    assert client.get("/readyz").json["status"] == "draining"
    assert client.get("/readyz").status_code == 503
    assert client.get("/livez").status_code == 200


@pytest.mark.parametrize("path", ["/healthz"])
def test_healthz_is_readyz_with_the_old_fields_for_one_release(client, path):
    body = client.get(path).json
    assert body["redis"] == body["session_redis"] == "ok" and body["database"] == "ok"
