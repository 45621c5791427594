"""An app with every aggregator enabled, Ghanaian numbers served, and Hubtel's codes routed."""

from dataclasses import replace

import pytest

from config import KNOWN_AGGREGATORS


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
        hubtel_service_codes=(("*713#", "ecitizen"), ("*713*4#", "ecitizen")),
    )
