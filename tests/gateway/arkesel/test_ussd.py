"""The Arkesel callback: request in, status and body out, over every recorded payload and the
malformed bodies Arkesel (or anyone) could send."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from app import create_app
from gateway.arkesel.replay import SameInputReplay
from gateway.arkesel.request import arkesel_hop, dialled_keys, read_request
from gateway.json_callbacks import BadCallback
from tests.conftest import Dialler
from tests.gateway.arkesel.caller import ArkeselCaller, SteppingClock, fixture, fixture_names
from tests.gateway.lines import StubActions

POLITE_REQUEST = "Sorry, we could not read your request. Please dial again.\nSamahani"
EXPIRED = "Your session has ended. Please dial again."
IDS = ("sessionID", "userID", "msisdn")
# What the eCitizen tree answers to the recorded requests played in order, one session (the replies
# recorded in the files are Arkesel's sample voting service's): (continueSession, start of message).
IN_ORDER = {
    "01_new_session": (True, "Welcome to eCitizen\n1. Register"),
    "02_continue": (True, "Enter your national ID number"),  # "1": Register, for someone new
    "03_next_page_hash": (True, "ID number has 7 or 8 digits."),  # "#" is one key, not an ID number
    "04_final": (True, "ID number has 7 or 8 digits."),  # "3"
    "05_unknown_session": (False, EXPIRED),  # another sessionID nobody opened
}


def post(client, body=None, path="/ussd/arkesel", **kwargs):
    response = client.post(path, json=body, **kwargs) if body is not None else client.post(path, **kwargs)
    return response.status_code, response.mimetype, response.get_json(silent=True)


def sessions_in(redis_client) -> list[bytes]:
    return redis_client.keys("u:*:s:*")


def test_every_fixture_is_listed():
    assert set(fixture_names()) == set(IN_ORDER)


def test_every_recorded_request_is_answered_in_arkesel_shape(app, client, clock):
    app.extensions["hops"].actions = StubActions(
        {"check_registered": {"ok": False, "error": "not_registered"}}
    )
    for name, (continues, start) in IN_ORDER.items():
        recorded = fixture(name)
        request = recorded["request"]["body"]
        clock.advance(5)
        status, mimetype, reply = post(client, request)
        assert (status, mimetype) == (recorded["response"]["status"], "application/json")
        documented = recorded["response"]["body"]
        assert set(reply) == set(documented)
        assert {k: type(v) for k, v in reply.items()} == {k: type(v) for k, v in documented.items()}
        assert [reply[k] for k in IDS] == [request[k] for k in IDS]  # echoed exactly as sent
        assert reply["continueSession"] is continues and reply["message"].startswith(start), (name, reply)
        assert 0 < len(reply["message"]) <= 156


@pytest.mark.parametrize("name", fixture_names())
def test_every_recorded_request_reads_as_documented(name):
    recorded = fixture(name)
    derived = recorded["derived_for_adapter_tests"]
    request = read_request({k.lower(): v for k, v in recorded["request"]["body"].items()})
    replay = SameInputReplay(b"k", 2.0, clock=SteppingClock())
    hop = arkesel_hop(
        request,
        "+" + request.msisdn,
        tree_id="ecitizen",
        service_code="*920*100#",
        text_limit=156,
        replay=replay,
    )
    assert hop.session_id == "arkesel:" + recorded["request"]["body"]["sessionID"]
    assert hop.aggregator == "arkesel" and hop.tree_id == "ecitizen" and hop.network == "mtn"
    if "msisdn_e164" in derived:
        assert hop.phone == derived["msisdn_e164"]
    if derived["event"] == "start":
        assert hop.is_new and not hop.needs_session
        assert list(hop.inputs) == derived["dial_route_tokens"]
    else:
        assert not hop.is_new and hop.needs_session
        assert hop.inputs == (derived["input"],)


def test_deep_dial_in_the_first_user_data_pre_supplies_its_keys(client, clock):
    assert dialled_keys("*920*100*7*1#", "*920*100#") == ("7", "1")
    assert dialled_keys("*920*100*7*1\uff03", "*920*100#") == ("7", "1")
    assert dialled_keys("*920*100#", "*920*100#") == ()
    assert dialled_keys("*920*100*7*1#", "") == ()  # no code configured: no deep dials
    assert dialled_keys("hello", "*920*100#") == ()
    caller = ArkeselCaller(client, clock=clock)
    assert caller.dial("7", "1").startswith("Support line 0800 221 000")


def test_a_first_hop_without_user_data_opens_the_menu(client, clock):
    body = {**fixture("01_new_session")["request"]["body"], "userData": None}
    assert post(client, body)[2]["message"].startswith("Welcome to eCitizen")
    body = {k: v for k, v in body.items() if k != "userData"} | {"sessionID": "OTHER"}
    assert post(client, body)[2]["message"].startswith("Welcome to eCitizen")


GOOD = fixture("01_new_session")["request"]["body"]
CONTINUE = fixture("02_continue")["request"]["body"]


def without(body: dict, key: str) -> dict:
    return {k: v for k, v in body.items() if k != key}


MALFORMED = {
    # wrong types
    "new-session-text": {**GOOD, "newSession": "maybe"},
    "new-session-two": {**GOOD, "newSession": 2},
    "new-session-null": {**GOOD, "newSession": None},
    "msisdn-number": {**GOOD, "msisdn": 233241234567},
    "user-data-number": {**CONTINUE, "userData": 2},
    "user-data-list": {**CONTINUE, "userData": ["2"]},
    "session-number": {**GOOD, "sessionID": 12345},
    "user-id-object": {**GOOD, "userID": {"id": 1}},
    "network-number": {**GOOD, "network": 1},
    # missing keys
    "no-session": without(GOOD, "sessionID"),
    "no-new-session": without(GOOD, "newSession"),
    "no-msisdn": without(GOOD, "msisdn"),
    "continue-without-user-data": without(CONTINUE, "userData"),
    # sizes
    "huge-user-data": {**CONTINUE, "userData": "1" * 183},
    "huge-session": {**GOOD, "sessionID": "S" * 57},
    "empty-session": {**GOOD, "sessionID": " "},
    "huge-msisdn": {**GOOD, "msisdn": "2" * 21},
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_bodies_get_a_polite_end(client, redis_client, body):
    status, mimetype, reply = post(client, body)
    assert (status, mimetype) == (200, "application/json")
    assert reply["continueSession"] is False and reply["message"].startswith(POLITE_REQUEST)
    assert set(reply) == {"sessionID", "userID", "msisdn", "message", "continueSession"}
    session_id = body.get("sessionID")
    assert reply["sessionID"] == (session_id if isinstance(session_id, str) and len(session_id) <= 64 else "")
    assert sessions_in(redis_client) == []


RAW = {
    "form-post": ("sessionID=1&newSession=true", "application/x-www-form-urlencoded"),
    "json-array": (json.dumps([GOOD]), "application/json"),
    "json-number": ("42", "application/json"),
    "empty": ("", "application/json"),
    "not-utf8": (b'{"sessionID": "\xff"}', "application/json"),
    "truncated": (json.dumps(GOOD)[:-3], "application/json"),
    "oversized": (json.dumps({**GOOD, "pad": "x" * 9000}), "application/json"),
    "keys-twice-in-two-cases": ('{"sessionID": "A", "sessionId": "B"}', "application/json"),
    "key-twice": ('{"sessionID": "A", "sessionID": "B"}', "application/json"),
}


@pytest.mark.parametrize(("data", "content_type"), RAW.values(), ids=RAW.keys())
def test_bodies_that_are_no_json_object_get_a_polite_end(client, redis_client, data, content_type):
    status, mimetype, reply = post(client, data=data, content_type=content_type)
    assert (status, mimetype) == (200, "application/json")
    assert reply["continueSession"] is False and reply["message"].startswith(POLITE_REQUEST)
    assert sessions_in(redis_client) == []


def test_json_without_a_content_type_is_read(client):
    response = client.post("/ussd/arkesel", data=json.dumps(GOOD))
    assert response.status_code == 200 and response.get_json()["message"].startswith("Welcome")


@pytest.mark.parametrize("flag", [True, "true", "TRUE", 1, "1"])
def test_new_session_is_read_leniently(client, flag):
    reply = post(client, {**GOOD, "newSession": flag, "sessionID": f"S-{flag}"})[2]
    assert reply["continueSession"] is True and reply["message"].startswith("Welcome")


def test_unknown_continuation_ends_politely_and_opens_nothing(client, redis_client):
    recorded = fixture("05_unknown_session")
    reply = post(client, recorded["request"]["body"])[2]
    assert reply["continueSession"] is False and reply["message"].startswith(EXPIRED)
    assert sessions_in(redis_client) == []


def test_the_same_input_within_the_window_is_a_retry_later_it_is_a_key_press(
    app, client, clock, redis_client
):
    actions = StubActions(
        {"check_registered": {"ok": True}, "list_departments": {"ok": True, "data": {"items": []}}}
    )
    app.extensions["hops"].actions = actions
    caller = ArkeselCaller(client, clock=clock)
    caller.dial()
    first = caller.press("2")
    [key] = sessions_in(redis_client)
    saved = redis_client.get(key)
    calls = list(actions.calls)
    assert calls and first.startswith("No services")
    caller.think_s = 0
    for delay in (0.0, 0.4, 1.1):  # Arkesel retrying: the same request within the 2 s window
        clock.advance(delay)
        assert caller.press("2") == first
    assert actions.calls == calls and redis_client.get(key) == saved
    clock.advance(2.5)  # a citizen typing 2 again: a new key press
    assert caller.press("2").startswith("Invalid entry, try again.\nNo services")


TRACK_ERROR = "A reference looks like ECZ-7K3Q9P."


def test_equal_answers_typed_seconds_apart_are_each_a_key_press(client, clock):
    caller = ArkeselCaller(client, clock=clock)  # each request 5 s after the last, as on a handset
    caller.dial()
    caller.press("3")  # Track: a reference, please; three wrong ones send the citizen home
    assert caller.press("ABC").startswith(TRACK_ERROR)
    assert caller.press("ABC").startswith(TRACK_ERROR)
    assert caller.press("ABC").startswith("Too many invalid entries")


def test_equal_answers_within_the_window_are_one(client, clock):
    caller = ArkeselCaller(client, clock=clock, think_s=0.3)
    caller.dial()
    caller.press("3")
    for _ in range(3):
        assert caller.press("ABC").startswith(TRACK_ERROR)  # the second and third are retries


def test_replay_detection_can_be_turned_off(settings):
    app = create_app(replace(settings, arkesel_replay_window_s=0))
    caller = ArkeselCaller(app.test_client(), clock=None)
    caller.dial()
    caller.press("3")
    caller.press("ABC")
    caller.press("ABC")
    assert caller.press("ABC").startswith("Too many invalid entries")


def test_replay_keys_never_show_the_input_and_match_only_inside_the_window():
    clock = SteppingClock(1000.0)
    replay = SameInputReplay(b"secret", 2.0, clock=clock)
    key, aliases = replay.keys(False, "4826")
    assert "4826" not in key and all("4826" not in alias for alias in aliases)
    for elapsed, same in ((0.0, True), (1.99, True), (2.5, False), (60.0, False)):
        later = SameInputReplay(b"secret", 2.0, clock=SteppingClock(1000.0 + elapsed))
        again, again_aliases = later.keys(False, "4826")
        assert (key == again or key in again_aliases) is same, elapsed
    assert replay.keys(False, "4827")[0] != key
    assert replay.keys(True, "4826")[0] != key  # a dial is never a retry of an answer
    assert SameInputReplay(b"other", 2.0, clock=clock).keys(False, "4826")[0] != key


def test_star_and_hash_are_inputs_not_separators(client, clock):
    caller = ArkeselCaller(client, clock=clock)
    caller.dial()
    assert caller.press("7*1").startswith("Invalid entry, try again.\nWelcome")  # one answer, not two
    assert caller.press("#").startswith("Invalid entry")
    assert caller.press("7").startswith("Help")


def test_a_dropped_session_is_offered_again_on_the_next_dial(client, clock):
    caller = ArkeselCaller(client, clock=clock)
    caller.dial()
    caller.press("3")  # Track: asks for a reference; then silence (Arkesel sends no notice)
    again = ArkeselCaller(client, session_id="REDIAL", clock=clock)
    assert again.dial() == "Continue where you left off?\n1. Continue\n2. Start again"
    assert again.press("1").startswith("Enter reference number")


def test_a_continuation_can_never_continue_another_aggregators_session(client, clock):
    at = Dialler(client, phone="+254712345678", session_id="shared-id")
    assert at.dial().startswith("CON Welcome")
    arkesel = ArkeselCaller(client, phone="+254712345678", session_id="shared-id", clock=clock)
    assert arkesel.press("7").startswith(EXPIRED)


def test_the_configured_tree_is_served_and_an_unknown_one_ends_politely(settings, clock):
    client = create_app(replace(settings, arkesel_tree="no-such-tree")).test_client()
    reply = post(client, GOOD)[2]
    assert reply["continueSession"] is False and reply["message"].startswith(
        "Sorry, this code is not in service"
    )


def test_screens_fit_the_arkesel_screen_limit(settings):
    app = create_app(replace(settings, arkesel_screen_limit=70))
    app.extensions["arkesel_replay"].clock = clock = SteppingClock()
    caller = ArkeselCaller(app.test_client(), clock=clock)
    screens = [caller.dial()]
    while "8. Language" not in screens[-1] and len(screens) < 8:
        screens.append(caller.press("98"))
    assert len(screens) > 2 and all(len(screen) <= 70 for screen in screens), screens


def test_rate_limits_apply_per_phone(settings):
    app = create_app(replace(settings, rate_limit_per_minute=2))
    app.extensions["arkesel_replay"].clock = clock = SteppingClock()
    caller = ArkeselCaller(app.test_client(), clock=clock)
    caller.dial()
    caller.press("7")
    assert caller.press("0").startswith("Too many requests.") and caller.final


SECRET = "arkesel-callback-secret-0123456789"


@pytest.fixture()
def guarded(settings):
    return create_app(
        replace(settings, arkesel_callback_secret=SECRET, hubtel_callback_secret="h")
    ).test_client()


@pytest.mark.parametrize(
    "path",
    [
        "/ussd/arkesel",
        "/ussd/arkesel?key=",
        "/ussd/arkesel?key=h",
        f"/ussd/arkesel?key={SECRET} ",
        "/ussd/arkesel/x",
    ],
)
def test_a_wrong_or_missing_secret_is_refused_before_anything_runs(guarded, redis_client, path):
    status, mimetype, reply = post(guarded, GOOD, path=path)
    assert (status, mimetype) == (403, "application/json")
    assert reply["continueSession"] is False and reply["message"].startswith("Sorry, something went wrong")
    assert sessions_in(redis_client) == []


@pytest.mark.parametrize("path", [f"/ussd/arkesel?key={SECRET}", f"/ussd/arkesel/{SECRET}"])
def test_the_secret_as_a_query_or_path_token_lets_the_hop_run(guarded, path):
    status, _, reply = post(guarded, GOOD, path=path)
    assert status == 200 and reply["message"].startswith("Welcome to eCitizen")


def test_a_disabled_aggregator_is_not_found(settings):
    client = create_app(replace(settings, aggregators=("africastalking", "hubtel"))).test_client()
    response = client.post("/ussd/arkesel", json=GOOD)
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_read_request_refuses_what_it_cannot_use():
    with pytest.raises(BadCallback, match="newSession"):
        read_request({"sessionid": "A", "newsession": "yes", "msisdn": "233241234567"})
    with pytest.raises(BadCallback, match="missing userData"):
        read_request({"sessionid": "A", "newsession": False, "msisdn": "233241234567"})
    request = read_request(
        {"sessionid": "A", "newsession": False, "msisdn": "233241234567", "userdata": None}
    )
    assert request.user_data == ""  # null on a continuation: an empty answer


def test_concurrent_hops_of_one_session_wait_for_each_other(settings):
    app = create_app(replace(settings, lock_wait_ms=150))
    app.extensions["arkesel_replay"].clock = clock = SteppingClock()
    caller = ArkeselCaller(app.test_client(), clock=clock)
    caller.dial()
    store = app.extensions["hops"].store
    lease = store.begin("+233241234567", "arkesel:" + caller.session_id)  # another hop is running
    try:
        busy = caller.press("7")
    finally:
        store.release(lease)
    assert busy.startswith("Service busy, please try again shortly.") and caller.final
    assert caller.press("7").startswith("Help")


def test_an_unexpected_failure_is_a_polite_end_never_a_5xx(app, client, monkeypatch):
    def broken(_hop):
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.extensions["hops"], "handle", broken)
    status, mimetype, reply = post(client, GOOD)
    assert (status, mimetype) == (200, "application/json")
    assert reply["continueSession"] is False and reply["message"].startswith("Sorry, something went wrong")
    assert "RuntimeError" not in json.dumps(reply)
