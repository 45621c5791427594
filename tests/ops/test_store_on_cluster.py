"""Every session-store test of tests/sessions, run again with the store on a real three-master
Redis Cluster (the session role in production): each script must keep to one hash slot."""

from __future__ import annotations

import pytest

from common.redis_conn import connect
from tests.sessions.test_store import *  # noqa: F403 - the same tests, collected again here


@pytest.fixture()
def redis_client(redis_cluster):
    client = connect(redis_cluster.url(), "hop")
    client.flushdb(target_nodes="primaries")
    return client
