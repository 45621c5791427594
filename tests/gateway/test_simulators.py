"""`flask --app app ussd dial … --aggregator hubtel|arkesel` speaks each wire protocol over real
HTTP to the gateway as `make run` serves it (granian), secrets and all."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from app import create_app
from common.db import Database
from config import Settings
from records.ussd import UssdSessionEnd
from tests.support import GatewayServer

SECRETS = {"HUBTEL_CALLBACK_SECRET": "hubtel-sim-secret", "ARKESEL_CALLBACK_SECRET": "arkesel-sim-secret"}


@pytest.fixture(scope="module")
def served(redis_server, tmp_path_factory) -> Iterator[tuple[GatewayServer, dict[str, str]]]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('simulators') / 'g.db'}"
    Database(database_url).upgrade()
    env = {
        "REDIS_URL": redis_server.url,
        "DATABASE_URL": database_url,
        "AGGREGATORS": "africastalking,hubtel,arkesel",
        "PHONE_REGIONS": "KE,GH",
        "HUBTEL_SERVICE_CODES": "*713#=ecitizen",
        "ARKESEL_SERVICE_CODE": "*920*100#",
        **SECRETS,
    }
    server = GatewayServer(env).start()
    yield server, env
    server.stop()


def dial(env: dict[str, str], server: GatewayServer, *args: str, typed: str, secrets: bool = True):
    settings = Settings.from_env(
        redis_url=env["REDIS_URL"],
        database_url=env["DATABASE_URL"],
        phone_regions=("KE", "GH"),
        hubtel_callback_secret=SECRETS["HUBTEL_CALLBACK_SECRET"] if secrets else "",
        arkesel_callback_secret=SECRETS["ARKESEL_CALLBACK_SECRET"] if secrets else "",
    )
    runner = create_app(settings).test_cli_runner()
    return runner.invoke(args=["ussd", "dial", *args, "--url", server.url, "--sms-wait", "0"], input=typed)


def test_hubtel_simulator_dials_presses_and_hangs_up_with_a_release(served):
    server, env = served
    result = dial(
        env, server, "*713*7#", "--aggregator", "hubtel", "--phone", "+233200585542", typed="1\n0\n"
    )
    output = result.output
    assert result.exit_code == 0, output
    assert "│ Help" in output and "│ Support line 0800 221 000" in output
    assert "· HTTP 200 · response" in output and "(hung up)" in output
    with Database(env["DATABASE_URL"]).session() as session:
        [end] = session.scalars(select(UssdSessionEnd)).all()
    assert (end.aggregator, end.status) == ("hubtel", "Release")  # the hang-up reached the gateway


def test_arkesel_simulator_speaks_arkesel(served):
    server, env = served
    result = dial(
        env, server, "*920*100#", "--aggregator", "arkesel", "--phone", "+233241234567", typed="8\n2\n"
    )
    output = result.output
    assert result.exit_code == 0, output
    assert "│ Welcome to eCitizen" in output and "│ Karibu eCitizen" in output
    assert "· HTTP 200 · continue" in output


def test_a_simulator_without_the_secret_is_refused(served):
    server, env = served
    result = dial(env, server, "*713#", "--aggregator", "hubtel", typed="", secrets=False)
    assert "HTTP 403 · release" in result.output
    assert "Welcome" not in result.output


def test_a_code_hubtel_does_not_route_is_refused_before_dialling(served):
    server, env = served
    result = dial(env, server, "*999#", "--aggregator", "hubtel", typed="")
    assert result.exit_code != 0 and "none of HUBTEL_SERVICE_CODES" in result.output
