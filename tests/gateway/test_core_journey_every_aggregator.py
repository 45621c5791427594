"""Register, apply, pay and track through Hubtel's and Arkesel's callbacks, against the reference
core service over real HTTP on 127.0.0.1: the same journey tests/journeys/ plays through Africa's
Talking, with the same screens, from Ghanaian numbers sent without `+`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from stand_ins.core_service.models import Citizen
from stand_ins.core_service.testing import CoreServer, unregistered_people
from tests.gateway.arkesel.caller import SteppingClock
from tests.gateway.lines import Line, enable_every_aggregator
from tests.journeys.test_citizen_services import PIN, REFERENCE, SCREENS, applications, outbox, typed_date
from tests.stand_ins.core_service.conftest import ADMIN, core_config

PHONES = {"hubtel": "+233200585542", "arkesel": "+233241234567"}


@pytest.fixture
def core(tmp_path) -> Iterator[CoreServer]:
    server = CoreServer(core_config(tmp_path)).start()
    yield server
    server.stop()


@pytest.fixture
def core_app(settings, core):
    from dataclasses import replace

    from app import create_app

    application = create_app(enable_every_aggregator(replace(settings, core_url=core.url)))
    application.extensions["database"].upgrade()
    application.extensions["arkesel_replay"].clock = SteppingClock()
    yield application
    application.extensions["core_client"].close()


@pytest.mark.parametrize("lang", ["en", "sw"])
@pytest.mark.parametrize("aggregator", ["hubtel", "arkesel"])
def test_register_apply_pay_track(core_app, core, aggregator, lang):
    phone = PHONES[aggregator]
    text = SCREENS[lang]
    clock = core_app.extensions["arkesel_replay"].clock

    def line(session: str) -> Line:
        return Line(aggregator, core_app.test_client(), phone, f"{session}-{lang}", clock)

    if lang == "sw":
        line("lang").dial("8", "2")

    register = line("reg")
    assert text["welcome"] in register.dial().text
    assert text["id"] in register.press("1").text
    person = unregistered_people(core.url)[0]
    for key in (person["national_id"], person["first_name"], person["last_name"]):
        register.press(key)
    register.press(typed_date(person["date_of_birth"]))
    register.press(PIN)
    assert text["registered"] in register.press(PIN).text  # the same four digits again: confirmed

    apply = line("apply")
    assert text["dci"] in apply.dial("2").text
    assert text["good_conduct"] in apply.press("1").text
    assert text["purpose"] in apply.press("1").text
    assert text["county"] in apply.press("1").text
    assert text["fee"] in apply.press("Nairobi").text
    assert text["pin"] in apply.press("1").text
    assert text["wrong_pin"] in apply.press("4827").text
    done = apply.press(PIN)
    assert text["submitted"] in done.text, done
    reference = REFERENCE.search(done.text).group(0)
    paying = apply.press("1")  # Pay now
    assert paying.final and text["mpesa"] in paying.text and reference in paying.text

    [application] = applications(core)
    assert application.reference == reference
    with core.flask_app.extensions["core"].session_factory() as db:
        assert db.get(Citizen, application.citizen_id).phone == phone  # E.164, from `233…` without `+`
    moved = requests.post(
        f"{core.url}/admin/applications/{reference}/status",
        json={"status": "under_review"},
        headers=ADMIN,
        timeout=5,
    )
    assert moved.status_code == 200

    status = line("track").dial("3", reference.lower().replace("-", ""))
    assert text["under_review"] in status.text and reference in status.text
    assert f"1. {reference}" in line("mine").dial("4").text
    assert "registration_welcome" in [m.template for m in outbox(core_app, phone)]
