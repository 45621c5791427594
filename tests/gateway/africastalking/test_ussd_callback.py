"""The Africa's Talking USSD callback: request in, status and body out (recorded payloads as fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# The hop path: no SQL (tests/conftest.py runs these on SQLite only and fails one that runs SQL).
pytestmark = pytest.mark.sql_free

FIXTURES = Path(__file__).parent / "fixtures"
HOPS = json.loads((FIXTURES / "ussd_hops.form.json").read_text())
DEEP_DIAL = json.loads((FIXTURES / "ussd_deep_dial.form.json").read_text())
ENDS = json.loads((FIXTURES / "ussd_session_end.form.json").read_text())
GOOD = {**HOPS[0]}

POLITE_REQUEST = "END Sorry, we could not read your request. Please dial again.\nSamahani"


def post(client, data=None, **kwargs):
    response = client.post("/ussd/africastalking", data=data, **kwargs)
    body = response.get_data(as_text=True)
    return response.status_code, response.mimetype, body


def test_recorded_session_walks_an_info_screen_back_and_home(app, client, monkeypatch):
    from menus.engine import ActionResult

    # a registered caller and a catalogue with nothing in it: Apply ends on an info screen
    actions = app.extensions["actions"]
    monkeypatch.setattr(actions, "check_registered", lambda *_: ActionResult(ok=True))
    monkeypatch.setattr(actions, "list_departments", lambda *_: ActionResult(ok=True, data={"items": []}))
    bodies = [post(client, hop)[2] for hop in HOPS]
    assert bodies[0].startswith("CON Welcome to eCitizen\n1. Register")
    assert bodies[1].startswith("CON No services available right now.\n0 Back 00 Home")
    assert bodies[2].startswith("CON Invalid entry, try again.\nNo services")  # 1 on an info screen
    assert bodies[3].startswith("CON Welcome to eCitizen")  # 0 goes back
    assert bodies[4].startswith("CON Welcome to eCitizen")  # 00 goes home


def test_deep_dial_is_consumed_like_typed_keys(client):
    status, mimetype, body = post(client, DEEP_DIAL)
    assert (status, mimetype) == (200, "text/plain")
    assert body.startswith("CON Enter reference number, e.g. ECZ-7K3Q9P")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sessionId": None}, POLITE_REQUEST),
        ({"text": None}, POLITE_REQUEST),
        ({"phoneNumber": None}, POLITE_REQUEST),
        ({"sessionId": "x" * 65}, POLITE_REQUEST),
        ({"text": "1*" * 201}, POLITE_REQUEST),
        ({"serviceCode": "*" * 33}, POLITE_REQUEST),
        ({"sessionId": "   "}, POLITE_REQUEST),
        ({"phoneNumber": "not a phone"}, "END Sorry, this service is only for Kenyan mobile numbers."),
        ({"phoneNumber": "+12025550143"}, "END Sorry, this service is only for Kenyan mobile numbers."),
        ({"phoneNumber": "+2547"}, "END Sorry, this service is only for Kenyan mobile numbers."),
        ({"serviceCode": "*999#"}, "END Sorry, this code is not in service."),
    ],
)
def test_bad_fields_get_a_polite_end(client, change, expected):
    data = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    status, mimetype, body = post(client, data)
    assert (status, mimetype) == (200, "text/plain")
    assert body.startswith(expected)
    assert len(body) <= 182


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": GOOD},
        {"data": b"sessionId=%ff%fe&text=", "content_type": "application/x-www-form-urlencoded"},
        {"data": b"\xff\xfe\x00garbage", "content_type": "application/x-www-form-urlencoded"},
        {"data": "sessionId=a&sessionId=b", "content_type": "application/x-www-form-urlencoded"},
        {"data": b"a=" + b"x" * 9000, "content_type": "application/x-www-form-urlencoded"},
        {"data": b"", "content_type": "text/plain"},
    ],
    ids=["json", "bad-percent-utf8", "raw-bytes", "repeated-field", "oversized", "no-form"],
)
def test_undecodable_or_foreign_bodies_get_a_polite_end(client, kwargs):
    status, mimetype, body = post(client, **kwargs)
    assert (status, mimetype) == (200, "text/plain")
    assert body.startswith(POLITE_REQUEST)


def test_local_number_forms_are_normalised_to_one_session(client, redis_client):
    for number in ["0712345678", "712345678", "+254 712 345 678", "254712345678"]:
        data = {**GOOD, "phoneNumber": number, "sessionId": f"ATUid_{number.replace(' ', '')}"}
        assert post(client, data)[2].startswith("CON Welcome")
    keys = {k.decode() for k in redis_client.keys("u:*:s:*")}
    assert len(keys) == 4 and all(k.startswith("u:{+254712345678}:s:") for k in keys)


def test_repeated_hop_returns_the_stored_reply_and_runs_nothing(client, redis_client):
    post(client, GOOD)
    first = post(client, {**GOOD, "text": "8"})[2]
    key = next(iter(redis_client.keys("u:*:s:*")))
    saved = redis_client.get(key)
    again = post(client, {**GOOD, "text": "8"})[2]
    assert again == first
    assert redis_client.get(key) == saved  # nothing ran: the stored session did not change


def test_language_choice_is_remembered_on_the_next_dial(client):
    post(client, GOOD)
    post(client, {**GOOD, "text": "8"})
    assert post(client, {**GOOD, "text": "8*2"})[2].startswith("CON Karibu eCitizen")
    other_session = {**GOOD, "sessionId": "ATUid_second"}
    assert post(client, other_session)[2].startswith("CON Karibu eCitizen")
    assert post(client, {**other_session, "text": "9"})[2].startswith("CON Jibu si sahihi, jaribu tena.")


def test_dropped_session_offers_to_continue_then_continues(client):
    post(client, GOOD)
    post(client, {**GOOD, "text": "3"})  # Track: asked for a reference; the call drops here
    again = {**GOOD, "sessionId": "ATUid_redial"}
    assert post(client, again)[2] == "CON Continue where you left off?\n1. Continue\n2. Start again"
    resumed = post(client, {**again, "text": "1"})[2]
    assert resumed.startswith("CON Enter reference number, e.g. ECZ-7K3Q9P")
    assert post(client, {**again, "text": "1*0"})[2].startswith("CON Welcome to eCitizen")


def test_dropped_session_can_start_again_and_the_draft_is_gone(client):
    post(client, GOOD)
    post(client, {**GOOD, "text": "3"})
    again = {**GOOD, "sessionId": "ATUid_redial"}
    post(client, again)
    assert post(client, {**again, "text": "2"})[2].startswith("CON Welcome to eCitizen")
    third = {**GOOD, "sessionId": "ATUid_third"}
    assert post(client, third)[2].startswith("CON Welcome to eCitizen")


def test_resume_prompt_repeats_on_a_wrong_key(client):
    post(client, GOOD)
    post(client, {**GOOD, "text": "3"})
    again = {**GOOD, "sessionId": "ATUid_redial"}
    post(client, again)
    assert post(client, {**again, "text": "5"})[2].startswith("CON Invalid entry, try again.\nContinue where")


def test_a_session_that_ended_is_not_offered_again(app, client):
    post(client, GOOD)
    post(client, {**GOOD, "text": "3"})
    post(client, {**GOOD, "text": "3*00"})  # back home: nothing to resume
    assert post(client, {**GOOD, "sessionId": "ATUid_x"})[2].startswith("CON Welcome")


def test_browsing_help_is_not_offered_again(client):
    post(client, GOOD)
    post(client, {**GOOD, "text": "7"})
    post(client, {**GOOD, "text": "7*4"})  # a help topic: nothing typed, nothing to resume
    assert post(client, {**GOOD, "sessionId": "ATUid_y"})[2].startswith("CON Welcome")


def test_callback_secret(settings):
    from dataclasses import replace

    from app import create_app

    app = create_app(replace(settings, at_callback_secret="s3cret"))
    client = app.test_client()
    response = client.post("/ussd/africastalking", data=GOOD)
    assert response.status_code == 403
    assert response.get_data(as_text=True).startswith("END ")
    response = client.post("/ussd/africastalking?key=wrong", data=GOOD)
    assert response.status_code == 403
    assert app.extensions["redis"].keys("u:*") == []  # nothing was processed
    response = client.post("/ussd/africastalking?key=s3cret", data=GOOD)
    assert response.status_code == 200 and response.get_data(as_text=True).startswith("CON Welcome")


def test_rate_limit_ends_politely_in_the_citizens_language(settings):
    from dataclasses import replace

    from app import create_app

    app = create_app(replace(settings, rate_limit_per_minute=5))
    client = app.test_client()
    bodies = [post(client, {**GOOD, "sessionId": f"ATUid_{i}"})[2] for i in range(7)]
    assert all(b.startswith("CON Welcome") for b in bodies[:5])
    both_languages = (
        "END Too many requests. Please wait a minute and dial again.\n"
        "Maombi mengi mno. Tafadhali subiri dakika moja kisha upige tena."
    )
    assert bodies[5] == bodies[6] == both_languages
    # once the citizen chose Kiswahili, the refusal is in Kiswahili only
    app.extensions["hops"].store.set_language("+254712345678", "sw")
    assert post(client, {**GOOD, "sessionId": "ATUid_sw"})[2] == (
        "END Maombi mengi mno. Tafadhali subiri dakika moja kisha upige tena."
    )


@pytest.mark.uses_sql
def test_session_end_events_are_recorded_once(app, client):
    from records.ussd import UssdSessionEnd

    for event in ENDS + ENDS:
        response = client.post("/ussd/africastalking/events", data=event)
        assert response.status_code == 200
    with app.extensions["database"].session() as session:
        rows = session.query(UssdSessionEnd).order_by(UssdSessionEnd.id).all()
        assert [r.session_id for r in rows] == [e["sessionId"] for e in ENDS]
        assert [r.status for r in rows] == ["Success", "Incomplete", "Failed"]
        expected = app.extensions["audit"].pseudonyms.of("+254712345678")
        assert rows[0].phone_hash == expected and rows[0].duration_ms == 41234 and rows[0].hops_count == 5
        assert rows[2].error_message == "Application response timeout"


def test_session_end_event_with_missing_fields_is_a_4xx_with_a_reason(client):
    response = client.post("/ussd/africastalking/events", data={"sessionId": "x"})
    assert response.status_code == 400
    assert response.json["error"] == "bad_request" and "missing" in response.json["message"]


@pytest.mark.parametrize(("body", "final"), [("", False), ("   \n", False), ("", True)])
def test_an_empty_screen_is_never_sent_as_an_empty_con(body, final):
    from gateway.africastalking.ussd import render_at

    reply = render_at(body, final)
    assert reply.startswith("END Sorry, something went wrong.") and reply.strip() != "CON"


def test_a_hop_service_reply_becomes_con_or_end(app, client, monkeypatch):
    from common.outcomes import HopOutcome
    from gateway.hop import HopReply

    hops = app.extensions["hops"]
    monkeypatch.setattr(hops, "handle", lambda hop: HopReply("Pick one\n1. A", False, HopOutcome.START))
    assert post(client, GOOD)[2] == "CON Pick one\n1. A"
    monkeypatch.setattr(hops, "handle", lambda hop: HopReply("Bye", True, HopOutcome.OPTION))
    assert post(client, GOOD)[2] == "END Bye"
