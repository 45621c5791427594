"""The two Redis roles and their URLs against real servers: Sentinel failover, a demoted primary,
a Redis Cluster, and the queue role refusing a cluster."""

from __future__ import annotations

import time

import pytest
import redis

from common.redis_conn import RedisUrlError, connect, describe, parse_url, queue_client, session_client
from config import Settings
from tools.servers import SentinelGroup, wait_for

# Starts processes or waits seconds on real time: scheduled first (tests/conftest.py).
pytestmark = pytest.mark.long


def test_urls_parse_and_never_show_a_password():
    target = parse_url("redis+sentinel://s1:26379,s2:26380,s3/mymaster/2")
    assert (target.kind, target.service, target.db) == ("sentinel", "mymaster", 2)
    assert target.nodes == (("s1", 26379), ("s2", 26380), ("s3", 26379))
    assert parse_url("redis+cluster://a:7000,b:7001").nodes == (("a", 7000), ("b", 7001))
    assert describe("redis://:s3cret@h:6379/0") == "redis://:***@h:6379/0"
    assert "s3cret" not in describe("redis://user:s3cret@h:6379/0")
    with pytest.raises(RedisUrlError, match="name the primary"):
        parse_url("redis+sentinel://s1:26379")
    with pytest.raises(RedisUrlError, match="database 0"):
        parse_url("redis+cluster://a:7000/3")
    with pytest.raises(RedisUrlError, match="unsupported"):
        parse_url("memcached://a:1")


def test_queue_role_refuses_a_cluster_with_a_clear_message():
    with pytest.raises(RedisUrlError, match="QUEUE_REDIS_URL cannot be a Redis Cluster"):
        Settings.from_env(queue_redis_url="redis+cluster://127.0.0.1:7000")
    # REDIS_URL sets both roles, so a cluster there is refused for the queue role too.
    with pytest.raises(RedisUrlError, match="put the cluster in SESSION_REDIS_URL"):
        Settings.from_env(redis_url="redis+cluster://127.0.0.1:7000")
    settings = Settings.from_env(
        redis_url="redis://127.0.0.1:1/0", session_redis_url="redis+cluster://127.0.0.1:7000"
    )
    assert settings.queue_url == "redis://127.0.0.1:1/0"
    assert settings.session_url.startswith("redis+cluster://")


def _settings(url: str, group: SentinelGroup) -> Settings:
    return Settings.from_env(
        redis_url=url, redis_password=group.password, redis_sentinel_password=group.sentinel_password
    )


def _first_success_after(client: redis.Redis, started: float, limit_s: float) -> float:
    """Seconds from `started` to the first SET that succeeds (the caller's hops resuming)."""
    n = 0
    while time.monotonic() - started < limit_s:
        n += 1
        try:
            client.set("ops:probe", n)
            return time.monotonic() - started
        except redis.RedisError:
            time.sleep(0.05)
    raise AssertionError(f"no write succeeded within {limit_s} s of the fault")


def test_sentinel_url_finds_the_primary_with_passwords(sentinel_group):
    client = session_client(_settings(sentinel_group.url(), sentinel_group))
    client.set("k", "v")
    assert client.get("k") == b"v"
    assert client.connection_pool.get_master_address()[1] == sentinel_group.data[0].port
    # Without the Sentinels' password nobody can ask them.
    anonymous = connect(sentinel_group.url(), "hop", password=sentinel_group.password)
    with pytest.raises(redis.RedisError):
        anonymous.set("k", "v")


@pytest.mark.slow
def test_killed_primary_writes_resume_on_the_promoted_replica_within_10_s(sentinel_group):
    settings = _settings(sentinel_group.url(), sentinel_group)
    client = session_client(settings)
    queue = queue_client(settings)
    client.set("before", "1")
    old_port = sentinel_group.primary_port()
    replica_port = next(s.port for s in sentinel_group.data if s.port != old_port)
    # Let the replica have the key before the primary dies.
    assert client.wait(1, 2000) == 1
    killed_at = time.monotonic()
    sentinel_group.server_on(old_port).kill()
    resumed_s = _first_success_after(client, killed_at, 10)
    _first_success_after(queue, killed_at, 10)
    assert sentinel_group.primary_port() == replica_port
    assert client.get("before") == b"1"
    print(f"writes resumed {resumed_s:.2f} s after the primary was killed")


@pytest.mark.slow
def test_demoted_primary_raises_no_readonly_past_one_retry(sentinel_group):
    """SENTINEL FAILOVER demotes the primary while clients hold connections to it: the next write
    there gets READONLY, which must make the client find the new primary and retry, not fail."""
    client = session_client(_settings(sentinel_group.url(), sentinel_group))
    for n in range(20):  # several pooled connections, all to the old primary
        client.set(f"warm:{n}", n)
    old_port = sentinel_group.primary_port()
    new_port = next(s.port for s in sentinel_group.data if s.port != old_port)
    sentinel_group.failover()
    assert sentinel_group.wait_for_primary(new_port, 20)
    # The old primary is now a replica of the new one.
    demoted = redis.Redis(port=old_port, password=sentinel_group.password)
    assert wait_for(lambda: demoted.info("replication")["role"] == "slave", 20, 0.1)
    failures = []
    for n in range(300):
        try:
            client.set(f"after:{n}", n)
        except redis.RedisError as exc:
            failures.append(repr(exc))
    assert failures == []
    assert client.connection_pool.get_master_address()[1] == new_port


@pytest.mark.slow
def test_killed_primary_that_returns_becomes_a_replica_and_hops_keep_writing(sentinel_group):
    settings = _settings(sentinel_group.url(), sentinel_group)
    client = session_client(settings)
    old_port = sentinel_group.primary_port()
    new_port = next(s.port for s in sentinel_group.data if s.port != old_port)
    old = sentinel_group.server_on(old_port)
    old.kill()
    assert sentinel_group.wait_for_primary(new_port, 20)
    _first_success_after(client, time.monotonic(), 10)
    old.start()
    returned = redis.Redis(port=old_port, password=sentinel_group.password)

    def is_replica() -> bool:
        return returned.info("replication")["role"] == "slave"

    # Sentinel turns a returned primary into a replica only once it has been back and reporting
    # "master" for 4 publish periods (8 s), then it syncs: 20 s was too tight on a loaded machine.
    assert wait_for(is_replica, 45, 0.1)
    failures = []
    for n in range(200):
        try:
            client.set(f"after:{n}", n)
        except redis.RedisError as exc:
            failures.append(repr(exc))
    assert failures == []


def test_cluster_url_spreads_keys_over_three_masters(redis_cluster):
    client = session_client(
        Settings.from_env(redis_url="redis://127.0.0.1:1/0", session_redis_url=redis_cluster.url())
    )
    for n in range(60):
        client.set(f"u:{{+2547000000{n:02d}}}:l", "sw")
    per_node = [redis.Redis(port=node.port).dbsize() for node in redis_cluster.nodes]
    assert sum(per_node) >= 60 and all(count > 0 for count in per_node)
    assert client.get("u:{+254700000001}:l") == b"sw"


@pytest.mark.slow
def test_hops_resume_on_the_promoted_primary_within_10_s(sentinel_group, tmp_path):
    """Sessions on Sentinel: the primary dies mid-session; the citizen's next hops get the busy
    screen at worst, then the same session goes on once the replica is promoted."""
    from app import create_app
    from tests.conftest import Dialler

    url = sentinel_group.url()
    app = create_app(
        Settings.from_env(
            redis_url=url,
            redis_password=sentinel_group.password,
            redis_sentinel_password=sentinel_group.sentinel_password,
            database_url=f"sqlite:///{tmp_path / 'g.db'}",
            log_level="CRITICAL",
        )
    )
    app.extensions["database"].upgrade()
    client = app.test_client()
    phone = Dialler(client, session_id="ATUid_failover")
    phone.dial()
    assert "Help" in phone.press("7")
    app.extensions["redis"].wait(1, 2000)  # the replica has the session
    killed_at = time.monotonic()
    sentinel_group.server_on(sentinel_group.primary_port()).kill()
    screens = []
    while time.monotonic() - killed_at < 10:
        screen = phone.post("7*1")  # the same hop, repeated until it is served
        screens.append(screen)
        if "Support line" in screen:
            break
    resumed_s = time.monotonic() - killed_at
    assert "Support line" in screens[-1], screens[-3:]
    assert all(s.startswith(("CON ", "END ")) for s in screens)
    assert phone.post("7*1*0").startswith("CON Help")
    print(f"hops resumed {resumed_s:.2f} s after the primary was killed ({len(screens)} tries)")
