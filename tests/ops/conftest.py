"""Real Redis topologies from Debian's packages: a Sentinel group (primary, replica, three Sentinels)
per test that breaks it, and one three-master Redis Cluster for the module."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import free_port
from tools.servers import ClusterGroup, SentinelGroup, binary, cluster_ports


def _require(*names: str) -> None:
    for name in names:
        try:
            binary(name)
        except SystemExit:
            pytest.skip(f"{name} is not installed (apt-get install redis-server redis-sentinel)")


@pytest.fixture()
def sentinel_group() -> Iterator[SentinelGroup]:
    """Five processes; with a password on the data nodes and another on the Sentinels."""
    _require("redis-server", "redis-sentinel")
    folder = Path(tempfile.mkdtemp(prefix="ops-sentinel-"))
    group = SentinelGroup(
        folder,
        [free_port() for _ in range(5)],
        password="data-pass-%41",
        sentinel_password="sentinel-pass",
    )
    try:
        yield group.start()
    finally:
        group.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[ClusterGroup]:
    _require("redis-server", "redis-cli")
    folder = Path(tempfile.mkdtemp(prefix="ops-cluster-"))
    group = ClusterGroup(folder, cluster_ports(3))
    try:
        yield group.start()
    finally:
        group.stop()
        shutil.rmtree(folder, ignore_errors=True)
