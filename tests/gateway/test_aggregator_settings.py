"""The aggregator settings as read from the environment, and phone numbers of every served region."""

from __future__ import annotations

import pytest

from common.phones import InvalidPhoneNumber, normalise_phone
from config import Settings


def test_defaults_enable_africas_talking_only_with_every_screen_as_wide(monkeypatch):
    for name in ("AGGREGATORS", "HUBTEL_SCREEN_LIMIT", "ARKESEL_SCREEN_LIMIT", "USSD_SCREEN_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    assert settings.aggregators == ("africastalking",)
    assert settings.text_limit("hubtel") == settings.text_limit("arkesel") == 156  # 160 minus "CON "
    assert settings.hubtel_service_codes == (("*713#", "ecitizen"),)
    assert (settings.arkesel_tree, settings.arkesel_service_code) == ("ecitizen", "*920*100#")


def test_aggregator_settings_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("AGGREGATORS", " AfricasTalking , hubtel,arkesel ")
    monkeypatch.setenv("HUBTEL_SERVICE_CODES", "*713#=ecitizen, 7c920dc49b7a40588c657119ce599044=other")
    monkeypatch.setenv("HUBTEL_SCREEN_LIMIT", "182")
    monkeypatch.setenv("ARKESEL_SCREEN_LIMIT", "120")
    monkeypatch.setenv("ARKESEL_TREE", "other")
    monkeypatch.setenv("ARKESEL_SERVICE_CODE", "")
    monkeypatch.setenv("ARKESEL_REPLAY_WINDOW_S", "0")
    monkeypatch.setenv("HUBTEL_CALLBACK_SECRET", "h-secret")
    monkeypatch.setenv("ARKESEL_CALLBACK_SECRET", "a-secret")
    settings = Settings.from_env()
    assert settings.aggregators == ("africastalking", "hubtel", "arkesel")
    assert dict(settings.hubtel_service_codes) == {
        "*713#": "ecitizen",
        "7c920dc49b7a40588c657119ce599044": "other",
    }
    assert (settings.text_limit("hubtel"), settings.text_limit("arkesel")) == (182, 120)
    assert (settings.arkesel_tree, settings.arkesel_service_code) == ("other", "")
    assert settings.arkesel_replay_window_s == 0
    assert (settings.hubtel_callback_secret, settings.arkesel_callback_secret) == ("h-secret", "a-secret")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("AGGREGATORS", "africastalking,nalo", "unknown nalo"),
        ("HUBTEL_SERVICE_CODES", "*713#", "not CODE=TREE"),
        ("HUBTEL_SERVICE_CODES", "*713#=", "not CODE=TREE"),
        ("HUBTEL_SCREEN_LIMIT", "200", "HUBTEL_SCREEN_LIMIT"),
        ("ARKESEL_SCREEN_LIMIT", "20", "ARKESEL_SCREEN_LIMIT"),
        ("ARKESEL_REPLAY_WINDOW_S", "60", "ARKESEL_REPLAY_WINDOW_S"),
    ],
)
def test_settings_that_cannot_work_are_refused_at_start(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        Settings.from_env()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("233200585542", "+233200585542"),  # Hubtel and Arkesel: international without "+"
        ("+233 20 058 5542", "+233200585542"),
        ("0244123456", "+233244123456"),  # a Ghanaian local form no Kenyan number has: Ghana's
        ("0712345678", "+254712345678"),  # Kenya first: local forms valid in Kenya stay Kenyan
        ("254712345678", "+254712345678"),
        ("0200585542", "+254200585542"),  # valid in both countries: the first region wins
    ],
)
def test_numbers_of_every_served_region_are_read(raw, expected):
    assert normalise_phone(raw, ("KE", "GH")) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("233200585542", "not a valid number"), ("+233200585542", "from GH are not served")],
)
def test_numbers_of_other_regions_are_refused(raw, reason):
    with pytest.raises(InvalidPhoneNumber, match=reason):
        normalise_phone(raw, ("KE",))
