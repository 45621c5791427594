"""An app with every aggregator enabled and Ghanaian numbers served; Arkesel's replay clock is a
`SteppingClock` the callers move."""

from dataclasses import replace

import pytest

from config import KNOWN_AGGREGATORS
from tests.gateway.arkesel.caller import SteppingClock


@pytest.fixture(params=["lane", "flask"])
def settings(settings, database_url, request):
    # database_url named here too: pytest does not follow an overridden fixture's own arguments when it
    # decides what to parametrize (SQLite and PostgreSQL).
    # Every callback test runs twice: through the callback lane and through Flask's routes.
    return replace(
        settings,
        callback_lane=request.param == "lane",
        aggregators=KNOWN_AGGREGATORS,
        phone_regions=("KE", "GH"),
    )


@pytest.fixture()
def clock(app) -> SteppingClock:
    stepping = SteppingClock()
    app.extensions["arkesel_replay"].clock = stepping
    return stepping
