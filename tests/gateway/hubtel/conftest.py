"""An app with every aggregator enabled, Ghanaian numbers served, and Hubtel's codes routed."""

from dataclasses import replace

import pytest

from config import KNOWN_AGGREGATORS


@pytest.fixture()
def settings(settings, database_url):
    # database_url named here too: pytest does not follow an overridden fixture's own arguments when it
    # decides what to parametrize (SQLite and PostgreSQL).
    return replace(
        settings,
        aggregators=KNOWN_AGGREGATORS,
        phone_regions=("KE", "GH"),
        hubtel_service_codes=(("*713#", "ecitizen"), ("*713*4#", "ecitizen")),
    )
