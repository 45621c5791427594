"""Every Redis client the gateway, its workers and its commands use is built here.

Two roles (docs/deploy.md):
- the **session** role: USSD sessions, locks, rate limits, the live menu tree. A single primary, a
  Sentinel-managed primary, or a Redis Cluster;
- the **queue** role: RQ queues and the audit stream. A single primary or a Sentinel-managed
  primary, never a Cluster (RQ moves jobs between keys in MULTI blocks that span hash slots).

URL schemes:
- `redis://[:password@]host:port/db` (and `rediss://`, `unix://`): one server;
- `redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster/0`: ask the Sentinels where the primary
  of `mymaster` is; on failover (a connection error, or READONLY from a demoted primary) the client
  asks them again and retries the command once;
- `redis+cluster://h1:7000,h2:7000,h3:7000`: a Redis Cluster, discovered from any of the nodes.

Passwords come from `REDIS_PASSWORD` (the data nodes) and `REDIS_SENTINEL_PASSWORD` (the Sentinels),
or from a plain URL's own `:password@`. `describe()` renders a URL for logs without its password.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.commands.core import Script
from redis.exceptions import RedisClusterException, SlotNotCoveredError
from redis.retry import Retry
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"

Profile = Literal["hop", "worker", "drain"]

# What each kind of caller may wait. `hop`: a citizen is waiting, so fail within about a second and
# retry once, which is what moves a Sentinel client to a newly promoted primary. `worker`: RQ blocks
# on its queues and sets its own read timeout; reconnect patiently. `drain`: the audit drainer blocks
# on the stream a second at a time.
_PROFILES: dict[str, dict[str, object]] = {
    "hop": {"socket_timeout": 0.5, "socket_connect_timeout": 0.25, "health_check_interval": 30},
    "worker": {"socket_connect_timeout": 2, "health_check_interval": 30},
    "drain": {"socket_timeout": 10, "socket_connect_timeout": 2, "decode_responses": True},
}


class RedisUrlError(ValueError):
    """A Redis URL this deployment cannot use; the message says what to change."""


@dataclass(frozen=True)
class RedisTarget:
    """A parsed Redis URL: `kind` is "single", "sentinel" or "cluster"."""

    kind: str
    url: str
    nodes: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0


def _nodes(netloc: str, default_port: int, url: str) -> tuple[tuple[str, int], ...]:
    hosts = netloc.rsplit("@", 1)[-1]
    nodes = []
    for part in hosts.split(","):
        part = part.strip()
        if not part:
            continue
        host, _, port = part.rpartition(":") if ":" in part else (part, "", str(default_port))
        try:
            nodes.append((host.strip("[]"), int(port)))
        except ValueError:
            raise RedisUrlError(f"bad host:port '{part}' in {describe(url)}") from None
    if not nodes:
        raise RedisUrlError(f"no host in {describe(url)}")
    return tuple(nodes)


def parse_url(url: str) -> RedisTarget:
    """Parse any of the supported schemes; raises `RedisUrlError` with a readable reason."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == SENTINEL_SCHEME:
        netloc, _, path = url.split("://", 1)[1].partition("/")
        parts = [p for p in path.split("/") if p]
        if not parts:
            raise RedisUrlError(
                f"{describe(url)}: name the primary, e.g. redis+sentinel://s1:26379,s2:26379/mymaster/0"
            )
        try:
            db = int(parts[1]) if len(parts) > 1 else 0
        except ValueError:
            raise RedisUrlError(f"{describe(url)}: the database must be a number") from None
        return RedisTarget("sentinel", url, _nodes(netloc, 26379, url), unquote(parts[0]), db)
    if scheme == CLUSTER_SCHEME:
        netloc, _, path = url.split("://", 1)[1].partition("/")
        if path.strip("/") not in ("", "0"):
            raise RedisUrlError(f"{describe(url)}: a Redis Cluster has only database 0")
        return RedisTarget("cluster", url, _nodes(netloc, 6379, url))
    if scheme in ("redis", "rediss", "unix"):
        return RedisTarget("single", url)
    raise RedisUrlError(
        f"unsupported Redis URL '{describe(url)}': use redis://, rediss://, redis+sentinel:// or redis+cluster://"
    )


def check_role_url(name: str, url: str, cluster_ok: bool) -> None:
    """Raise `RedisUrlError` when `url` cannot serve the role configured by variable `name`."""
    target = parse_url(url)
    if target.kind == "cluster" and not cluster_ok:
        raise RedisUrlError(
            f"{name} cannot be a Redis Cluster ({describe(url)}): RQ and the audit stream need one "
            "primary. Use redis://host:port/db or redis+sentinel://s1:26379,s2:26379/mymaster/0, "
            "and put the cluster in SESSION_REDIS_URL."
        )


def describe(url: str) -> str:
    """`url` with any password replaced by `***`, for logs and start-up banners."""
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    netloc, sep, path = rest.partition("/")
    if "@" in netloc:
        userinfo, hosts = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hosts}" if user else f":***@{hosts}"
    return f"{scheme}://{netloc}{sep}{path}"


def _retry(profile: Profile) -> Retry:
    if profile == "hop":
        return Retry(NoBackoff(), 1)
    return Retry(ExponentialBackoff(cap=2.0, base=0.1), 5)


def connect(
    url: str,
    profile: Profile = "hop",
    password: str = "",
    sentinel_password: str = "",
) -> redis.Redis | ClusterClient:
    """A client for `url` with the timeouts of `profile`.

    Connection errors are retried (once for `hop`), and on a Sentinel URL a retry first asks the
    Sentinels for the current primary, so a failover costs the caller one slow command, not an error.
    The client is thread-safe; build one per process and role.
    """
    target = parse_url(url)
    options = dict(_PROFILES[profile])
    retry_options = {"retry": _retry(profile), "retry_on_error": [redis.ConnectionError]}
    if target.kind == "single":
        if password and not urlsplit(url).password:
            options["password"] = password
        return redis.Redis.from_url(url, **options, **retry_options)
    if target.kind == "sentinel":
        sentinel_options = {
            k: v for k, v in options.items() if k in ("socket_timeout", "socket_connect_timeout")
        }
        if sentinel_password:
            sentinel_options["password"] = sentinel_password
        sentinel = Sentinel(list(target.nodes), sentinel_kwargs=sentinel_options)
        if password:
            options["password"] = password
        return sentinel.master_for(target.service, db=target.db, **options, **retry_options)
    options.pop("health_check_interval", None)
    if password:
        options["password"] = password
    return ClusterClient(target.nodes, cluster_error_retry_attempts=2, **options)


class ClusterClient:
    """A Redis Cluster client that may be built while no node of the cluster answers.

    redis-py's `RedisCluster` asks a node for the slot map as it is built, and raises when none
    answers; each connection error drops the failing node from its startup list, so once every node
    has failed it has nowhere left to read a new slot map from (after a failover, say); and "no node
    answers" is its own `RedisClusterException`, not a `redis.ConnectionError`. This client builds
    the `RedisCluster` on first use (at most one attempt per `retry_s` while the cluster is away: in
    between, commands fail at once), gives it back the configured nodes when it has dropped them
    all, and raises `redis.ConnectionError` for "no node answers", so callers handle a cluster that
    is down like any Redis that is down. Everything else (commands, pipelines, `register_script`) behaves as
    `RedisCluster`'s. Thread-safe; build one per process and role.
    """

    def __init__(self, nodes: tuple[tuple[str, int], ...], retry_s: float = 1.0, **options: object) -> None:
        self._nodes = nodes
        self._options = options
        self._retry_s = retry_s
        self._cluster: RedisCluster | None = None
        self._next_try = 0.0
        self._lock = threading.Lock()

    def _startup_nodes(self) -> list[ClusterNode]:
        return [ClusterNode(host, port) for host, port in self._nodes]

    @property
    def cluster(self) -> RedisCluster:
        """The `RedisCluster` behind this client; `redis.ConnectionError` while none can be built."""
        cluster = self._cluster
        if cluster is None:
            return self._build()
        self._restore_startup_nodes(cluster)
        return cluster

    def _restore_startup_nodes(self, cluster: RedisCluster) -> bool:
        """Give `cluster` back the configured nodes if it has dropped them all; True if it had."""
        manager = cluster.nodes_manager
        if manager.startup_nodes:
            return False
        # A new dict, not a mutation: another thread may be iterating the old one.
        manager.startup_nodes = {node.name: node for node in self._startup_nodes()}
        return True

    def _build(self) -> RedisCluster:
        with self._lock:
            if self._cluster is not None:
                return self._cluster
            now = time.monotonic()
            if now < self._next_try:
                raise redis.ConnectionError(
                    "no Redis Cluster node answered the last attempt; trying again shortly"
                )
            try:
                self._cluster = RedisCluster(startup_nodes=self._startup_nodes(), **self._options)
            except RedisClusterException as exc:
                self._next_try = now + self._retry_s
                raise redis.ConnectionError(f"no Redis Cluster node answers: {exc}") from exc
            return self._cluster

    def register_script(self, script: str | bytes) -> Script:
        # Bytes: the script's hash needs no encoder, so registering never builds the cluster client.
        return Script(self, script.encode() if isinstance(script, str) else script)

    def __getattr__(self, name: str):
        cluster = self.cluster
        attribute = getattr(cluster, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def call(*args, **kwargs):
            try:
                return attribute(*args, **kwargs)
            except RedisClusterException as exc:
                # The last node dropped during this very command leaves no cause to look at.
                lost_all = self._restore_startup_nodes(cluster)
                if lost_all or _unreachable(exc):
                    raise redis.ConnectionError(f"Redis Cluster unreachable: {exc}") from exc
                raise

        return call


def _unreachable(exc: RedisClusterException) -> bool:
    """The cluster cannot be reached (as opposed to a command the cluster refuses, such as keys of
    several slots in one command: that is a bug and stays a `RedisClusterException`)."""
    return isinstance(exc, SlotNotCoveredError) or isinstance(
        exc.__cause__, (redis.ConnectionError, redis.TimeoutError)
    )


def session_client(settings, profile: Profile = "hop") -> redis.Redis | ClusterClient:
    """The session role's client for `settings` (a `config.Settings`)."""
    return connect(settings.session_url, profile, settings.redis_password, settings.redis_sentinel_password)


def queue_client(settings, profile: Profile = "hop") -> redis.Redis:
    """The queue role's client for `settings` (a `config.Settings`); never a cluster client."""
    check_role_url("QUEUE_REDIS_URL", settings.queue_url, cluster_ok=False)
    client = connect(settings.queue_url, profile, settings.redis_password, settings.redis_sentinel_password)
    assert isinstance(client, redis.Redis)
    return client


def is_cluster(client: object) -> bool:
    """True for a Redis Cluster client: callers that write keys of several slots at once ask this."""
    return isinstance(client, ClusterClient | RedisCluster)
