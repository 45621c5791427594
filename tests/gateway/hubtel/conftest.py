"""An app with every aggregator enabled, Ghanaian numbers served, and Hubtel's codes routed."""

from dataclasses import replace

import pytest

from config import KNOWN_AGGREGATORS


@pytest.fixture()
def settings(settings):
    return replace(
        settings,
        aggregators=KNOWN_AGGREGATORS,
        phone_regions=("KE", "GH"),
        hubtel_service_codes=(("*713#", "ecitizen"), ("*713*4#", "ecitizen")),
    )
