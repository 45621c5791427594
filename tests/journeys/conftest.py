"""The reference core service on 127.0.0.1 and a gateway app that calls it over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from stand_ins.core_service.testing import CoreServer
from tests.stand_ins.core_service.conftest import core_config


@pytest.fixture
def core(tmp_path) -> Iterator[CoreServer]:
    server = CoreServer(core_config(tmp_path)).start()
    yield server
    server.stop()


@pytest.fixture
def core_app(settings, core):
    from app import create_app

    application = create_app(replace(settings, core_url=core.url))
    application.extensions["database"].upgrade()
    application.config["TESTING"] = True
    yield application
    application.extensions["core_client"].close()
