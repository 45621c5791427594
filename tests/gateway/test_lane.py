"""The callback lane in front of Flask: every aggregator's USSD callback skips the framework,
everything else does not; what the lane hands a callback is what Flask would have."""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace

import pytest

from config import KNOWN_AGGREGATORS
from gateway.callbacks import CallbackAnswer, CallbackRequest
from gateway.lane import CallbackLane

FORM = {
    "sessionId": "ATUid_lane1",
    "serviceCode": "*384*123#",
    "phoneNumber": "+254712345678",
    "networkCode": "63902",
    "text": "",
}
HUBTEL = {
    "Type": "Initiation",
    "Mobile": "233200585542",
    "SessionId": "lane-hubtel-1",
    "ServiceCode": "713",
    "Message": "*713#",
    "Operator": "mtn",
    "Sequence": 1,
}
ARKESEL = {
    "sessionID": "lane-arkesel-1",
    "userID": "lane",
    "newSession": True,
    "msisdn": "233241234567",
    "userData": "*920*100#",
    "network": "MTN",
}


@dataclass
class Recorder:
    """An `Callback` that keeps what it was handed and answers `reply`."""

    reply: CallbackAnswer = field(default_factory=lambda: CallbackAnswer(200, "END ok"))
    path: str = "/cb"
    takes_token: bool = False
    name: str = "recorder"
    fallback: CallbackAnswer = field(default_factory=lambda: CallbackAnswer(200, "END sorry"))
    seen: list[CallbackRequest] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)

    def __call__(self, given: CallbackRequest) -> CallbackAnswer:
        self.seen.append(given)
        self.body.append(given.read(4096))
        return self.reply


def flask_behind(lane_callback: Recorder, **lane_options) -> tuple[CallbackLane, list[str]]:
    to_flask: list[str] = []

    def flask(environ, start_response):
        to_flask.append(environ["PATH_INFO"])
        start_response("404 NOT FOUND", [])
        return [b"flask"]

    lane = CallbackLane(flask, **lane_options)
    lane.add(lane_callback)
    return lane, to_flask


def environ(path: str = "/cb", body: bytes = b"", **extra) -> dict:
    values = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "QUERY_STRING": "",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(body),
    }
    values.update(extra)
    return values


@pytest.fixture()
def flask_requests(app):
    seen: list[str] = []
    app.before_request(lambda: seen.append(__import__("flask").request.path))
    return seen


@pytest.fixture()
def settings(settings, database_url):
    return replace(settings, callback_lane=True, aggregators=KNOWN_AGGREGATORS, phone_regions=("KE", "GH"))


def test_every_callback_is_answered_without_flask(client, flask_requests):
    at = client.post("/ussd/africastalking", data=FORM)
    assert at.status_code == 200
    assert at.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert at.get_data(as_text=True).startswith("CON Welcome to eCitizen")
    hubtel = client.post("/ussd/hubtel", json=HUBTEL)
    assert hubtel.status_code == 200 and hubtel.mimetype == "application/json"
    assert hubtel.get_json()["Type"] == "response"
    assert hubtel.get_json()["Message"].startswith("Welcome to eCitizen")
    arkesel = client.post("/ussd/arkesel/any-token", json=ARKESEL)
    assert arkesel.get_json()["continueSession"] is True
    report = {"id": "ATXid_unknown", "status": "Success"}
    assert client.post("/sms/africastalking/delivery", data=report).get_json()["outcome"] == "pending"
    refused = client.post("/events/application-status", json={})
    assert refused.status_code == 401 and refused.status == "401 Unauthorized"
    assert flask_requests == []
    client.get("/healthz")
    client.post("/ussd/africastalking/events", data={})
    assert flask_requests == ["/healthz", "/ussd/africastalking/events"]


def test_the_lane_sends_the_security_headers_flask_sends(client):
    from_lane = client.post("/ussd/africastalking", data=FORM).headers
    from_flask = client.get("/healthz").headers
    for name in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"):
        assert from_lane[name] == from_flask[name]


def test_without_the_lane_flask_serves_the_same_callbacks(settings, flask_requests):
    from app import create_app

    app = create_app(replace(settings, callback_lane=False))
    app.extensions["database"].upgrade()
    seen: list[str] = []
    app.before_request(lambda: seen.append("flask"))
    client = app.test_client()
    body = client.post("/ussd/africastalking", data=FORM).get_data(as_text=True)
    assert body.startswith("CON Welcome to eCitizen")
    assert client.post("/ussd/hubtel/any-token", json=HUBTEL).get_json()["Type"] == "response"
    assert seen == ["flask", "flask"]


def test_other_methods_on_a_lane_path_go_to_flask(client):
    for path in ("/ussd/africastalking", "/ussd/hubtel", "/ussd/arkesel/token"):
        response = client.get(path)
        assert response.status_code == 405
        assert response.get_json()["error"] == "method_not_allowed"


def test_a_disabled_aggregators_path_is_not_served(settings):
    from app import create_app

    app = create_app(replace(settings, aggregators=("africastalking",)))
    assert app.test_client().post("/ussd/hubtel", json=HUBTEL).status_code == 404


@pytest.mark.parametrize("lane", [True, False], ids=["lane", "flask"])
def test_a_crash_behind_the_callback_is_its_polite_fallback_not_a_5xx(settings, monkeypatch, lane):
    from app import create_app

    app = create_app(replace(settings, callback_lane=lane))
    app.extensions["database"].upgrade()
    client = app.test_client()

    def explode(_hop):
        raise RuntimeError("boom")

    monkeypatch.setattr(app.extensions["hops"], "handle", explode)
    at = client.post("/ussd/africastalking", data=FORM)
    assert at.status_code == 200
    assert at.get_data(as_text=True).startswith("END Sorry, something went wrong.")
    hubtel = client.post("/ussd/hubtel", json=HUBTEL)
    assert hubtel.status_code == 200
    assert hubtel.get_json()["Type"] == "release" and "boom" not in hubtel.get_data(as_text=True)
    arkesel = client.post("/ussd/arkesel", json=ARKESEL)
    assert arkesel.status_code == 200 and arkesel.get_json()["continueSession"] is False
    assert 'ussd_hop_errors_total{kind="unhandled"}' in client.get("/metrics").get_data(as_text=True)


def test_the_lane_never_reads_past_the_declared_body():
    """On a kept-alive connection the next request's bytes follow the body: they are not ours."""
    callback = Recorder()
    lane, _ = flask_behind(callback)
    statuses = []
    given = environ(body=b"text=1POST /next HTTP/1.1", CONTENT_LENGTH="6")
    body = lane(given, lambda status, headers: statuses.append((status, headers)))
    assert callback.body == [b"text=1"]
    assert body == [b"END ok"]
    assert statuses == [("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "6")])]


@pytest.mark.parametrize("length", ["-1", "x", ""])
def test_a_length_that_is_no_length_reads_nothing(length):
    callback = Recorder()
    lane, _ = flask_behind(callback)
    lane(environ(body=b"text=1&more", CONTENT_LENGTH=length), lambda *_: None)
    assert callback.body == [b""]


def test_the_lane_parses_the_query_media_type_and_address_like_flask():
    callback = Recorder(reply=CallbackAnswer(403, "END no"))
    lane, _ = flask_behind(callback)
    statuses = []
    given = environ(
        CONTENT_TYPE="Application/X-WWW-Form-Urlencoded; charset=utf-8",
        CONTENT_LENGTH="",
        QUERY_STRING="key=a%20b&key=second",
        REMOTE_ADDR="196.201.214.5",
        **{"wsgi.input": io.BytesIO(b"never read: no length, not terminated")},
    )
    lane(given, lambda status, headers: statuses.append(status))
    assert statuses == ["403 Forbidden"]
    seen = callback.seen[0]
    assert seen.query == {"key": "a b"}
    assert seen.mimetype == "application/x-www-form-urlencoded"
    assert seen.content_length is None
    assert seen.remote_addr == "196.201.214.5"
    assert callback.body == [b""]


def test_a_path_token_reaches_the_callback_only_where_it_takes_one():
    with_token = Recorder(path="/ussd/tokened", takes_token=True)
    lane, to_flask = flask_behind(with_token)
    lane.add(Recorder(path="/ussd/plain"))
    lane(environ("/ussd/tokened/s3cr%C3%A9t".replace("%C3%A9", "\xc3\xa9")), lambda *_: None)
    assert with_token.seen[-1].token == "s3cr\u00e9t"  # the UTF-8 segment, as Flask decodes it
    lane(environ("/ussd/tokened"), lambda *_: None)
    assert with_token.seen[-1].token == ""
    for elsewhere in ("/ussd/plain/token", "/ussd/tokened/", "/ussd/tokened/a/b", "/ussd/other"):
        lane(environ(elsewhere), lambda *_: None)
    assert to_flask == ["/ussd/plain/token", "/ussd/tokened/", "/ussd/tokened/a/b", "/ussd/other"]
    assert len(with_token.seen) == 2


def test_a_callback_that_raises_gets_its_own_fallback_from_the_lane():
    class Broken(Recorder):
        def __call__(self, given):
            raise RuntimeError("boom")

    lane, _ = flask_behind(Broken(fallback=CallbackAnswer(200, '{"end":true}', "application/json")))
    statuses = []
    body = lane(environ(), lambda status, headers: statuses.append((status, headers)))
    assert body == [b'{"end":true}']
    assert statuses[0][0] == "200 OK"
    assert ("Content-Type", "application/json; charset=utf-8") in statuses[0][1]
