from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend_client import CoreClient
from stand_ins.core_service.testing import CoreServer
from tests.stand_ins.core_service.conftest import core_config


@pytest.fixture
def core(tmp_path) -> Iterator[CoreServer]:
    server = CoreServer(core_config(tmp_path)).start()
    yield server
    server.stop()


@pytest.fixture
def client(core: CoreServer) -> Iterator[CoreClient]:
    with CoreClient(core.url, per_call_timeout_s=2.0, retry_backoff_s=0.01) as client:
        yield client
