"""Who is calling, remembered per phone for a few minutes (CALLER_TTL_S, CALLER_GUEST_TTL_S), so a
repeat dial's first screen does not wait on the core. The phone's key is written only once a session
stops being live (its END, or the aggregator's end notice); a session dropped mid-journey is read
back through the phone's draft. Each test is written as the way it could go wrong: a name shown to
the wrong phone, a stale "guest" after registering, a memory that outlives its TTL, a greeting lost
because the core is down, more kept than the greeting needs, a key held while the session is live.
End to end: the Africa's Talking (and Hubtel) callback, the hop service, the session Redis,
CoreClient and the reference core service over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace

import pytest

from citizen.actions import known_caller
from config import KNOWN_AGGREGATORS
from gateway.events import signature_of
from stand_ins.core_service.testing import unregistered_people
from tests.gateway.hubtel.caller import HubtelCaller
from tests.journeys.test_caller_journeys import MENU, count_calls
from tests.journeys.test_citizen_services import (
    PIN,
    caller,
    register_over_http,
    session_ends,
    typed_date,
)

GUEST_MENU = MENU["en"]["guest"]


@pytest.fixture
def make_app(settings, core):
    """A gateway on the reference core with the given caller TTLs (the defaults otherwise)."""
    from app import create_app

    built = []

    def make(**overrides):
        application = create_app(replace(settings, core_url=core.url, **overrides))
        application.extensions["database"].upgrade()
        application.config["TESTING"] = True
        built.append(application)
        return application

    yield make
    for application in built:
        application.extensions["core_client"].close()


def remembered(app, phone: str) -> bytes | None:
    return app.extensions["redis"].get(f"u:{{{phone}}}:c")


def ttl_ms(app, phone: str) -> int:
    return app.extensions["redis"].pttl(f"u:{{{phone}}}:c")


def greeting(person: dict) -> str:
    return MENU["en"]["greeting"].format(first=person["first_name"])


def dial_and_hang_up(app, phone: str, session: str, *keys: str) -> str:
    """One dial (the aggregator's notice follows when the citizen hangs up); its first screen."""
    screen = caller(app, phone, session).dial(*keys)
    session_ends(app, phone, session)
    return screen


def test_a_repeat_dial_is_greeted_without_asking_the_core(make_app, core, monkeypatch):
    app = make_app()
    phone = "+254711100001"
    person = register_over_http(core, phone)
    lookups = count_calls(monkeypatch, app.extensions["core_client"], "find_citizen")
    for session in ("first", "second", "third"):
        assert dial_and_hang_up(app, phone, session) == greeting(person)
    assert lookups == [phone]


def test_no_key_while_a_session_is_live_and_one_once_it_is_over(make_app, core):
    app = make_app()
    phone = "+254711100011"
    person = register_over_http(core, phone)
    live = caller(app, phone, "live")
    for screen in (live.dial(), live.press("7"), live.press("1")):  # the main menu, Help, a topic
        assert screen.startswith("CON ")
        assert remembered(app, phone) is None
    session_ends(app, phone, "live")
    assert remembered(app, phone) == b"1" + person["first_name"][:20].encode()


def test_hubtels_release_notice_remembers_the_caller(make_app, core, monkeypatch):
    app = make_app(
        aggregators=KNOWN_AGGREGATORS,
        phone_regions=("KE", "GH"),
        hubtel_service_codes=(("*713#", "ecitizen"),),
    )
    phone = "+233241100021"
    person = register_over_http(core, phone)
    lookups = count_calls(monkeypatch, app.extensions["core_client"], "find_citizen")
    first = HubtelCaller(app.test_client(), phone=phone, session_id="hubtel-one")
    assert first.dial().startswith(greeting(person).removeprefix("CON "))
    assert remembered(app, phone) is None
    first.release()
    assert remembered(app, phone) == b"1" + person["first_name"][:20].encode()
    second = HubtelCaller(app.test_client(), phone=phone, session_id="hubtel-two")
    assert second.dial().startswith(greeting(person).removeprefix("CON "))
    assert lookups == [phone]


def test_a_dropped_session_greets_the_redial_without_the_core(make_app, core, monkeypatch):
    app = make_app()
    phone = "+254711100031"
    person = register_over_http(core, phone)
    lookups = count_calls(monkeypatch, app.extensions["core_client"], "find_citizen")
    dropped = caller(app, phone, "dropped")
    dropped.dial()
    assert dropped.press("3").startswith("CON ")  # Track: waiting on the reference when the call drops
    assert remembered(app, phone) is None  # no end notice came: only the draft knows the caller

    redial = caller(app, phone, "redial")
    assert redial.dial().startswith("CON Continue")
    assert redial.press("2") == greeting(person)  # start again: greeted from the dropped session
    assert lookups == [phone]


def test_a_draft_older_than_the_ttl_does_not_greet(make_app, core, monkeypatch):
    app = make_app(caller_ttl_s=1)
    phone = "+254711100041"
    person = register_over_http(core, phone)
    dropped = caller(app, phone, "dropped")
    dropped.dial()
    dropped.press("3")
    store = app.extensions["hops"].store
    draft = store.load(phone, "dropped")
    deadline = time.monotonic() + 10
    while store.caller_ttl_ms(known_caller(draft.state.answers), draft.started_at) > 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    core.stop()  # only the draft could name the caller now, and it is too old to
    redial = caller(app, phone, "redial")
    assert redial.dial().startswith("CON Continue")
    screen = redial.press("2")
    assert screen.startswith(GUEST_MENU) and person["first_name"] not in screen


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_with_the_core_down_a_remembered_caller_is_still_greeted(make_app, core, lang):
    app = make_app()
    phone = {"en": "+254711100101", "sw": "+254721100101"}[lang]
    person = register_over_http(core, phone)
    if lang == "sw":
        caller(app, phone, "lang").dial("8", "2")
    assert dial_and_hang_up(app, phone, "before") == MENU[lang]["greeting"].format(first=person["first_name"])
    core.stop()
    started = time.monotonic()
    again = caller(app, phone, "core-down").dial()
    assert again == MENU[lang]["greeting"].format(first=person["first_name"])
    assert time.monotonic() - started < 0.5  # no lookup that times out first
    # and the registered menu works on from there: Help needs no core
    assert caller(app, phone, "core-down-help").dial("7").startswith("CON ")


def test_a_phone_never_sees_another_phones_remembered_name(make_app, core):
    app = make_app()
    known, stranger = "+254711100201", "+254711100202"
    person = register_over_http(core, known)
    assert dial_and_hang_up(app, known, "shared-id") == greeting(person)
    assert remembered(app, known) is not None
    core.stop()  # only a memory could name anyone now
    # the same session id from another phone (an aggregator reusing ids, or someone trying), and a new one
    for session in ("shared-id", "own-id"):
        screen = caller(app, stranger, session).dial()
        assert screen.startswith(GUEST_MENU) and person["first_name"] not in screen
        session_ends(app, stranger, session)
    assert remembered(app, stranger) is None  # the core could not say: nothing remembered for it


def test_registering_through_the_gateway_turns_a_remembered_guest_into_a_registered_caller(
    make_app, core, monkeypatch
):
    app = make_app(caller_guest_ttl_s=3600)  # the flip must come from the registration, not the TTL
    phone = "+254711100301"
    assert dial_and_hang_up(app, phone, "browse").startswith(GUEST_MENU)
    assert remembered(app, phone) == b"0"
    register = caller(app, phone, "register")
    assert register.dial().startswith(GUEST_MENU)  # greeted from the memory: "guest"
    register.press("1")
    person = unregistered_people(core.url)[0]
    for key in (person["national_id"], person["first_name"], person["last_name"]):
        register.press(key)
    register.press(typed_date(person["date_of_birth"]))
    register.press(PIN)
    assert remembered(app, phone) == b"0"  # still live: nothing written yet
    done = register.press(PIN)
    assert done.startswith("END ") and "registered" in done
    # its END writes what its answers say now, never the "guest" it was greeted as
    assert remembered(app, phone) == b"1" + person["first_name"][:20].encode()
    session_ends(app, phone, "register")  # the notice after an END changes nothing
    assert remembered(app, phone) == b"1" + person["first_name"][:20].encode()

    lookups = count_calls(monkeypatch, app.extensions["core_client"], "find_citizen")
    assert caller(app, phone, "after-registering").dial() == greeting(person)
    assert lookups == []


def test_a_core_event_about_the_phone_forgets_what_was_remembered(make_app, core):
    app = make_app(caller_guest_ttl_s=3600)
    phone = "+254711100401"
    assert dial_and_hang_up(app, phone, "guest").startswith(GUEST_MENU)
    assert remembered(app, phone) == b"0"
    person = register_over_http(core, phone)  # registered elsewhere (the web portal)

    event_id = str(uuid.uuid4())
    body = json.dumps(
        {
            "event_id": event_id,
            "type": "application.status_changed",
            "occurred_at": "2026-11-28T09:00:00+00:00",
            "reference": "ECZ-7K3Q9P",
            "phone": phone,
            "service_code": "good_conduct",
            "old_status": "submitted",
            "new_status": "under_review",
            "note": None,
            "payment": None,
        }
    ).encode()
    forged = app.test_client().post(
        "/events/application-status",
        data=body,
        headers={"X-Event-Id": event_id, "X-Signature": f"t={int(time.time())},v1={'0' * 64}"},
    )
    assert forged.status_code == 401 and remembered(app, phone) == b"0"  # only a signed event counts

    secret = app.extensions["settings"].webhook_secret
    signed_now = signature_of(body, secret, event_id, int(time.time()))
    signed = app.test_client().post(
        "/events/application-status",
        data=body,
        headers={"X-Event-Id": event_id, "X-Signature": signed_now},
    )
    assert signed.status_code == 202, signed.json
    assert remembered(app, phone) is None
    assert caller(app, phone, "after-event").dial() == greeting(person)


def test_what_is_remembered_never_outlives_its_ttl(make_app, core, monkeypatch):
    app = make_app(caller_ttl_s=2, caller_guest_ttl_s=1)
    known, guest = "+254711100501", "+254711100502"
    person = register_over_http(core, known)
    assert dial_and_hang_up(app, known, "known") == greeting(person)
    assert dial_and_hang_up(app, guest, "guest").startswith(GUEST_MENU)
    # counted from the dial that asked the core, not from the end of its session
    assert 1000 < ttl_ms(app, known) <= 2000  # the registered caller's TTL
    assert 0 < ttl_ms(app, guest) <= 1000  # a guest's is the shorter one

    deadline = time.monotonic() + 10
    while remembered(app, known) is not None or remembered(app, guest) is not None:
        assert time.monotonic() < deadline, "the remembered answers did not expire"
        time.sleep(0.05)
    core.stop()  # an expired memory must not greet anyone: with the core down, the guest menu
    assert caller(app, known, "known-core-down").dial().startswith(GUEST_MENU)
    core.start()
    app.extensions["core_client"].breaker.record_success()
    lookups = count_calls(monkeypatch, app.extensions["core_client"], "find_citizen")
    assert caller(app, known, "known-later").dial() == greeting(person)
    assert caller(app, guest, "guest-later").dial().startswith(GUEST_MENU)
    assert lookups == [known, guest]  # both asked the core again


def test_only_the_registered_flag_and_first_name_are_remembered(make_app, core):
    app = make_app()
    phone = "+254711100601"
    person = register_over_http(core, phone)
    dial_and_hang_up(app, phone, "profile")
    raw = remembered(app, phone).decode()
    assert raw == "1" + person["first_name"][:20]
    for private in (person["last_name"], person["national_id"], person["national_id"][-3:], PIN):
        assert private not in raw
    assert person["date_of_birth"][:4] not in raw


def test_no_ttl_remembers_nothing(make_app, core, monkeypatch):
    app = make_app(caller_ttl_s=0, caller_guest_ttl_s=0)
    phone = "+254711100701"
    person = register_over_http(core, phone)
    lookups = count_calls(monkeypatch, app.extensions["core_client"], "find_citizen")
    assert dial_and_hang_up(app, phone, "one") == greeting(person)
    assert dial_and_hang_up(app, phone, "two") == greeting(person)
    assert remembered(app, phone) is None and lookups == [phone, phone]
