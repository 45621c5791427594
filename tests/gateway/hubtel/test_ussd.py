"""The Hubtel callback: request in, status and body out, over every recorded payload and the
malformed bodies Hubtel (or anyone) could send."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from sqlalchemy import select

from app import create_app
from gateway.hubtel.request import dialled_keys, hubtel_hop, read_request, route
from gateway.json_callbacks import BadCallback
from records.ussd import UssdSessionEnd
from tests.conftest import Dialler
from tests.gateway.hubtel.caller import GHANA_PHONE, HubtelCaller, fixture, fixture_names
from tests.gateway.lines import StubActions

CODES = {"*713#": "ecitizen", "*713*4#": "ecitizen"}
POLITE_REQUEST = "Sorry, we could not read your request. Please dial again.\nSamahani"
EXPIRED = "Your session has ended. Please dial again."
# What the eCitizen tree answers to each recorded request sent on its own (the replies recorded in
# the files are Hubtel's sample service's): (Type, the start of Message).
ALONE = {
    "01_initiation": ("response", "Welcome to eCitizen\n1. Register"),
    "02_response_continue": ("release", EXPIRED),  # a Response for a session nobody opened
    "03_response_final_release": ("release", EXPIRED),
    "04_timeout": ("release", "Goodbye."),
    "05_user_release": ("release", "Goodbye."),
    # code *713*4#, keys 3 (Track) and 5 (not a reference)
    "06_initiation_with_dial_route": ("response", "A reference looks like ECZ-7K3Q9P."),
}


def post(client, body=None, path="/ussd/hubtel", **kwargs):
    response = client.post(path, json=body, **kwargs) if body is not None else client.post(path, **kwargs)
    return response.status_code, response.mimetype, response.get_json(silent=True)


def sessions_in(redis_client) -> list[bytes]:
    return redis_client.keys("u:*:s:*")


def test_every_fixture_is_listed():
    assert set(fixture_names()) == set(ALONE)


@pytest.mark.parametrize("name", sorted(ALONE))
def test_every_recorded_request_is_answered_in_hubtel_shape(client, name):
    recorded = fixture(name)
    status, mimetype, reply = post(client, recorded["request"]["body"])
    assert (status, mimetype) == (recorded["response"]["status"], "application/json")
    documented = {k: v for k, v in recorded["response"]["body"].items() if k != "Item"}
    assert set(documented) <= set(reply)
    assert {k: type(v) for k, v in reply.items() if k in documented} == {
        k: type(v) for k, v in documented.items()
    }
    assert reply["SessionId"] == recorded["request"]["body"]["SessionId"]
    kind, start = ALONE[name]
    assert reply["Type"] == kind and reply["Message"].startswith(start), reply
    assert reply["DataType"] == ("input" if kind == "response" else "display")
    assert 0 < len(reply["Message"]) <= 156


@pytest.mark.parametrize("name", fixture_names())
def test_every_recorded_request_reads_as_documented(name):
    recorded = fixture(name)
    derived = recorded["derived_for_adapter_tests"]
    fields = {k.lower(): v for k, v in recorded["request"]["body"].items()}
    request = read_request(fields)
    assert request.event == {"user_release": "release"}.get(derived["event"], derived["event"])
    if request.event in ("release", "timeout"):
        return  # notices: no hop is built (test_release_and_timeout_…)
    hop = hubtel_hop(request, "+" + request.mobile, CODES, 156)
    assert hop.session_id == "hubtel:" + recorded["request"]["body"]["SessionId"]
    assert hop.aggregator == "hubtel" and hop.replay_key == f"q{fields['sequence']}"
    if "network" in derived:
        assert hop.network == derived["network"]
    if request.event == "start":
        assert hop.is_new and not hop.needs_session
        assert list(hop.inputs) == derived["dial_route_tokens"]
        assert hop.tree_id == "ecitizen"
    else:
        assert not hop.is_new and hop.needs_session
        assert hop.inputs == (derived["input"],)


def test_deep_dial_on_the_configured_code_pre_supplies_its_keys():
    assert dialled_keys("*713*4*3#", "713", {"*713#": "ecitizen"}) == ("4", "3")
    assert dialled_keys("*713*4*3#", "*713#", {}) == ("4", "3")
    assert dialled_keys("*713#", "713", {}) == ()
    assert dialled_keys("*713*4*3\uff03", "713", {}) == ("4", "3")  # a full-width number sign
    # a service id instead of a code: the configured codes read the dial string
    assert dialled_keys("*713*7*1#", "7c920dc49b7a40588c657119ce599044", {"*713#": "ecitizen"}) == ("7", "1")
    assert dialled_keys("", "713", {}) == ()  # the app channels send no dial string
    assert route("713", {"*713#": "ecitizen"}).tree_id == "ecitizen"
    assert route("7c920dc49b7a40588c657119ce599044", {"7c920dc49b7a40588c657119ce599044": "x"}).tree_id == "x"
    assert route("999", {"*713#": "ecitizen"}) == route("*999#", {})  # no route: the tree listing it


def test_deep_dial_lands_on_the_screen_its_keys_reach(client):
    caller = HubtelCaller(client)
    assert caller.dial("7", "1").startswith("Support line 0800 221 000")
    assert caller.last["Type"] == "response"


def test_recorded_session_walks_an_info_screen(app, client):
    app.extensions["hops"].actions = StubActions(
        {"check_registered": {"ok": True}, "list_departments": {"ok": True, "data": {"items": []}}}
    )
    replies = [post(client, fixture(name)["request"]["body"])[2] for name in fixture_names()[:3]]
    assert replies[0]["Message"].startswith("Welcome to eCitizen")
    assert replies[1]["Message"] == "No services available right now.\n0 Back 00 Home"  # "2"
    assert replies[2]["Message"].startswith("Invalid entry, try again.\nNo services")  # "150.5"
    assert [r["Type"] for r in replies] == ["response"] * 3


GOOD = fixture("01_initiation")["request"]["body"]
RESPONSE = fixture("02_response_continue")["request"]["body"]


def without(body: dict, key: str) -> dict:
    return {k: v for k, v in body.items() if k != key}


MALFORMED = {
    # wrong types
    "sequence-text": {**GOOD, "Sequence": "one"},
    "sequence-float": {**GOOD, "Sequence": 1.5},
    "sequence-bool": {**GOOD, "Sequence": True},
    "sequence-negative": {**GOOD, "Sequence": -1},
    "mobile-number": {**GOOD, "Mobile": 233200585542},
    "message-list": {**RESPONSE, "Message": ["2"]},
    "type-number": {**GOOD, "Type": 1},
    "session-object": {**GOOD, "SessionId": {"id": "x"}},
    "operator-number": {**GOOD, "Operator": 5},
    "clientstate-number": {**GOOD, "ClientState": 100},
    # missing keys
    "no-type": without(GOOD, "Type"),
    "no-session": without(GOOD, "SessionId"),
    "no-mobile": without(GOOD, "Mobile"),
    "no-service-code": without(GOOD, "ServiceCode"),
    "no-sequence": without(GOOD, "Sequence"),
    "response-without-message": without(RESPONSE, "Message"),
    "null-session": {**GOOD, "SessionId": None},
    # unknown Type
    "type-addtocart": {**GOOD, "Type": "AddToCart"},
    "type-query": {**GOOD, "Type": "query"},
    "type-empty": {**GOOD, "Type": ""},
    "type-hijack": {**GOOD, "Type": "HijackSession"},
    # sizes
    "huge-message": {**RESPONSE, "Message": "1" * 183},
    "huge-session": {**GOOD, "SessionId": "a" * 58},
    "empty-session": {**GOOD, "SessionId": "  "},
    "huge-service-code": {**GOOD, "ServiceCode": "7" * 65},
    "huge-mobile": {**GOOD, "Mobile": "2" * 21},
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_bodies_get_a_polite_release(client, redis_client, body):
    status, mimetype, reply = post(client, body)
    assert (status, mimetype) == (200, "application/json")
    assert reply["Type"] == "release" and reply["Message"].startswith(POLITE_REQUEST)
    assert reply["DataType"] == "display" and set(reply) >= {"SessionId", "Label", "FieldType"}
    session_id = body.get("SessionId")
    assert reply["SessionId"] == (session_id if isinstance(session_id, str) and len(session_id) <= 64 else "")
    assert len(reply["Message"]) <= 182
    assert sessions_in(redis_client) == []


RAW = {
    "not-json": ("Type=Initiation&Mobile=233200585542", "application/x-www-form-urlencoded"),
    "json-array": (json.dumps([GOOD]), "application/json"),
    "json-string": (json.dumps("Initiation"), "application/json"),
    "json-null": ("null", "application/json"),
    "empty": ("", "application/json"),
    "not-utf8": (b'{"Type": "Initiation", "Message": "\xff\xfe"}', "application/json"),
    "truncated": (json.dumps(GOOD)[:-5], "application/json"),
    "oversized": (json.dumps({**GOOD, "ExtraData": {"pad": "x" * 9000}}), "application/json"),
    "keys-twice-in-two-cases": ('{"Type": "Initiation", "type": "Release"}', "application/json"),
    "deeply-nested": ("[" * 4000 + "]" * 4000, "application/json"),
}


@pytest.mark.parametrize(("data", "content_type"), RAW.values(), ids=RAW.keys())
def test_bodies_that_are_no_json_object_get_a_polite_release(client, redis_client, data, content_type):
    status, mimetype, reply = post(client, data=data, content_type=content_type)
    assert (status, mimetype) == (200, "application/json")
    assert reply["Type"] == "release" and reply["Message"].startswith(POLITE_REQUEST)
    assert sessions_in(redis_client) == []


def test_lower_case_keys_and_types_are_read_like_the_documented_ones(client):
    body = {key.lower(): value for key, value in GOOD.items()} | {"type": "initiation"}
    status, _, reply = post(client, body)
    assert status == 200 and reply["Type"] == "response" and reply["Message"].startswith("Welcome")


def test_a_number_or_code_not_served_ends_politely(client):
    reply = post(client, {**GOOD, "Mobile": "2348031234567"})[2]  # Nigeria: not in PHONE_REGIONS
    assert reply["Type"] == "release" and reply["Message"].startswith("Sorry, this service is only for")
    reply = post(client, {**GOOD, "ServiceCode": "999", "Message": "*999#"})[2]
    assert reply["Type"] == "release" and reply["Message"].startswith("Sorry, this code is not in service.")


def test_ghana_numbers_without_plus_are_one_citizen_with_their_e164_form(client, redis_client):
    HubtelCaller(client, phone="+233200585542", session_id="s-one").dial()
    HubtelCaller(client, phone="+233200585542", session_id="s-two").dial()
    keys = {k.decode() for k in sessions_in(redis_client)}
    assert keys == {"u:{+233200585542}:s:hubtel:s-one", "u:{+233200585542}:s:hubtel:s-two"}


def test_the_same_sequence_gets_the_stored_reply_and_runs_nothing_again(app, client, redis_client):
    actions = StubActions(
        {"check_registered": {"ok": True}, "list_departments": {"ok": True, "data": {"items": []}}}
    )
    app.extensions["hops"].actions = actions
    caller = HubtelCaller(client)
    welcome = caller.dial()
    # a retried Initiation is a replay too, not a new session
    assert caller.post("Initiation", "*713#", sequence=1)["Message"] == welcome
    first = caller.post("Response", "2", sequence=2)
    [key] = sessions_in(redis_client)
    saved = redis_client.get(key)
    calls = list(actions.calls)
    assert [name for name, _ in calls] == ["identify_caller", "check_registered", "list_departments"]
    again = caller.post("Response", "2", sequence=2)
    assert again == first
    assert actions.calls == calls  # no action ran a second time
    assert redis_client.get(key) == saved  # nothing was saved either
    # the next Sequence with the same key is a new key press
    assert caller.post("Response", "2", sequence=3)["Message"].startswith("Invalid entry")


def test_star_and_hash_are_inputs_not_separators(app, client):
    actions = StubActions(
        {
            "check_registered": {"ok": True},
            "list_departments": {"ok": True, "data": {"items": [{"id": "DCI", "label": "DCI"}]}},
            "list_services": {"ok": True, "data": {"items": [{"id": "gc", "label": "Good conduct"}]}},
            "start_form": {"ok": True},
            "next_field": [{"ok": True, "data": {"field_prompt": "Address", "field_name": "address"}}],
            "save_field": {"ok": False, "error": "unavailable"},
        }
    )
    app.extensions["hops"].actions = actions
    caller = HubtelCaller(client)
    caller.dial()
    # AT would read "7*1" as Help then Support line; on Hubtel it is one (invalid) answer
    assert caller.press("7*1").startswith("Invalid entry, try again.\nWelcome to eCitizen")
    for key in ("2", "1", "1"):
        caller.press(key)
    assert caller.last["Message"].startswith("Address")
    caller.press("Plot #4*B")
    saved = [params for name, params in actions.calls if name == "save_field"]
    assert saved and saved[0]["field_answer"] == "Plot #4*B"


def test_a_response_for_a_session_the_gateway_does_not_hold_ends_politely(client, redis_client):
    reply = post(client, RESPONSE)[2]
    assert reply["Type"] == "release" and reply["Message"].startswith(EXPIRED)
    assert sessions_in(redis_client) == []


def test_a_response_can_never_continue_another_aggregators_session(client, redis_client):
    at = Dialler(client, phone="+254712345678", session_id="shared-id")
    assert at.dial().startswith("CON Welcome")
    hubtel = HubtelCaller(client, phone="+254712345678", session_id="shared-id")
    hubtel.sequence = 1
    assert hubtel.press("7").startswith(EXPIRED)  # not the AT session's Help screen
    assert at.press("7").startswith("CON Help")


def test_release_and_timeout_end_the_session_run_nothing_and_are_recorded_once(app, client, redis_client):
    caller = HubtelCaller(client)
    caller.dial()
    caller.press("3")  # Track: asks for a reference
    [key] = sessions_in(redis_client)
    saved = redis_client.get(key)
    notice = caller.timeout()
    assert notice["Type"] == "release" and notice["SessionId"] == caller.session_id
    assert redis_client.get(key) == saved  # no menu step ran
    caller.timeout()  # Hubtel repeats the notice: still one record
    release = HubtelCaller(client, phone="+233501234567", session_id="c9f0f895fb98ab9159f51fd0297e236d")
    release.dial()
    release.release()
    with app.extensions["database"].session() as session:
        ends = {row.session_id: row for row in session.scalars(select(UssdSessionEnd))}
    assert set(ends) == {"hubtel:" + caller.session_id, "hubtel:c9f0f895fb98ab9159f51fd0297e236d"}
    timed_out = ends["hubtel:" + caller.session_id]
    assert (timed_out.aggregator, timed_out.status, timed_out.service_code) == ("hubtel", "Timeout", "*713#")
    assert timed_out.network_code == "mtn" and timed_out.hops_count == 2
    assert timed_out.phone_hash and "233200585542" not in timed_out.phone_hash
    assert ends["hubtel:c9f0f895fb98ab9159f51fd0297e236d"].status == "Release"


def test_a_dropped_session_is_offered_again_on_the_next_dial(client):
    caller = HubtelCaller(client)
    caller.dial()
    caller.press("3")
    caller.timeout()
    again = HubtelCaller(client, session_id="second-dial")
    assert again.dial() == "Continue where you left off?\n1. Continue\n2. Start again"
    assert again.press("1").startswith("Enter reference number")


def test_concurrent_hops_of_one_session_wait_for_each_other(settings, redis_client):
    app = create_app(replace(settings, lock_wait_ms=150))
    client = app.test_client()
    caller = HubtelCaller(client)
    caller.dial()
    store = app.extensions["hops"].store
    lease = store.begin("+233200585542", "hubtel:" + caller.session_id)  # another hop is running
    try:
        busy = caller.press("7")
    finally:
        store.release(lease)
    assert busy.startswith("Service busy, please try again shortly.") and caller.final
    assert caller.post("Response", "7", sequence=3)["Message"].startswith("Help")


def test_rate_limits_apply_per_phone(settings):
    client = create_app(replace(settings, rate_limit_per_minute=3)).test_client()
    caller = HubtelCaller(client)
    caller.dial()
    caller.press("7")
    caller.press("0")
    assert caller.press("7").startswith("Too many requests.") and caller.final


def test_screens_fit_the_hubtel_screen_limit(settings):
    client = create_app(replace(settings, hubtel_screen_limit=60)).test_client()
    caller = HubtelCaller(client)
    screens = [caller.dial()]
    while "8. Language" not in screens[-1] and len(screens) < 8:
        screens.append(caller.press("98"))  # the main menu pages
    screens.append(caller.press("7"))
    assert len(screens) > 3 and screens[-1].startswith("Help"), screens
    assert all(len(screen) <= 60 for screen in screens), screens
    assert screens[0] == "Welcome to eCitizen\n1. Register\n98 More"


def test_each_aggregator_keeps_its_own_screen_width_in_one_process(settings):
    client = create_app(replace(settings, hubtel_screen_limit=60)).test_client()
    assert HubtelCaller(client).dial() == "Welcome to eCitizen\n1. Register\n98 More"
    at = Dialler(client, phone="+254712345678", session_id="at-after-hubtel").dial()
    assert at.startswith("CON Welcome to eCitizen\n1. Register\n2. Apply") and at.endswith("8. Language")


def test_with_the_default_limit_screens_are_the_same_as_on_africas_talking(client):
    at = Dialler(client, phone="+254712345678", session_id="at-1")
    hubtel = HubtelCaller(client, phone="+254712345679", session_id="h-1")
    assert at.dial()[4:] == hubtel.dial()
    for key in ("7", "5", "0", "00", "8"):
        assert at.press(key)[4:] == hubtel.press(key)


SECRET = "hubtel-callback-secret-0123456789"


@pytest.fixture()
def guarded(settings):
    app = create_app(replace(settings, hubtel_callback_secret=SECRET, at_callback_secret="the-at-secret"))
    return app.test_client()


@pytest.mark.parametrize(
    "path",
    [
        "/ussd/hubtel",
        "/ussd/hubtel?key=",
        "/ussd/hubtel?key=wrong",
        f"/ussd/hubtel?key={SECRET[:-1]}",
        f"/ussd/hubtel?key={SECRET}x",
        "/ussd/hubtel?key=the-at-secret",
        "/ussd/hubtel/wrong",
        f"/ussd/hubtel/{SECRET.upper()}",
    ],
)
def test_a_wrong_or_missing_secret_is_refused_before_anything_runs(guarded, redis_client, path):
    status, mimetype, reply = post(guarded, GOOD, path=path)
    assert (status, mimetype) == (403, "application/json")
    assert reply["Type"] == "release" and reply["Message"].startswith("Sorry, something went wrong")
    assert sessions_in(redis_client) == []


@pytest.mark.parametrize("path", [f"/ussd/hubtel?key={SECRET}", f"/ussd/hubtel/{SECRET}"])
def test_the_secret_as_a_query_or_path_token_lets_the_hop_run(guarded, path):
    status, _, reply = post(guarded, GOOD, path=path)
    assert status == 200 and reply["Message"].startswith("Welcome to eCitizen")


def test_a_disabled_aggregator_is_not_found(settings):
    client = create_app(replace(settings, aggregators=("africastalking",))).test_client()
    response = client.post("/ussd/hubtel", json=GOOD)
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_read_request_refuses_what_it_cannot_use():
    with pytest.raises(BadCallback, match="unknown Type"):
        read_request({"type": "Query"})
    request = read_request({k.lower(): v for k, v in {**GOOD, "Sequence": "7"}.items()})
    assert request.sequence == 7 and hubtel_hop(request, GHANA_PHONE, CODES, 0).replay_key == "q7"


def test_an_unexpected_failure_is_a_polite_release_never_a_5xx(app, client, monkeypatch):
    def broken(_hop):
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.extensions["hops"], "handle", broken)
    status, mimetype, reply = post(client, GOOD)
    assert (status, mimetype) == (200, "application/json")
    assert reply["Type"] == "release" and reply["Message"].startswith("Sorry, something went wrong")
    assert "RuntimeError" not in json.dumps(reply)
