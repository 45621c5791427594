"""The callback lane in front of Flask: USSD callbacks skip the framework, everything else does not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.lane import CallbackAnswer, CallbackLane, CallbackRequest

FORM = {
    "sessionId": "ATUid_lane1",
    "serviceCode": "*384*123#",
    "phoneNumber": "+254712345678",
    "networkCode": "63902",
    "text": "",
}


@pytest.fixture()
def flask_requests(app):
    seen: list[str] = []
    app.before_request(lambda: seen.append(__import__("flask").request.path))
    return seen


def test_ussd_callbacks_are_answered_without_flask(client, flask_requests):
    response = client.post("/ussd/africastalking", data=FORM)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.get_data(as_text=True).startswith("CON Welcome to eCitizen")
    assert flask_requests == []
    client.get("/healthz")
    client.post("/ussd/africastalking/events", data={})
    assert flask_requests == ["/healthz", "/ussd/africastalking/events"]


def test_without_the_lane_flask_serves_the_same_callback(settings, flask_requests):
    from app import create_app

    app = create_app(replace(settings, callback_lane=False))
    app.extensions["database"].upgrade()
    seen: list[str] = []
    app.before_request(lambda: seen.append("flask"))
    body = app.test_client().post("/ussd/africastalking", data=FORM).get_data(as_text=True)
    assert body.startswith("CON Welcome to eCitizen")
    assert seen == ["flask"]


def test_other_methods_on_a_lane_path_go_to_flask(client):
    response = client.get("/ussd/africastalking")
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"


def test_a_crash_behind_the_lane_is_a_polite_end_not_a_5xx(app, client, monkeypatch):
    def explode(_hop):
        raise RuntimeError("boom")

    monkeypatch.setattr(app.extensions["hops"], "handle", explode)
    response = client.post("/ussd/africastalking", data=FORM)
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("END Sorry, something went wrong.")
    assert "boom" not in response.get_data(as_text=True)
    assert 'ussd_hop_errors_total{kind="unhandled"}' in client.get("/metrics").get_data(as_text=True)


def test_the_lane_never_reads_past_the_declared_body():
    """On a kept-alive connection the next request's bytes follow the body: they are not ours."""
    import io

    received: list[bytes] = []

    def answer(given: CallbackRequest) -> CallbackAnswer:
        received.append(given.read(4096))
        return CallbackAnswer(200, "END ok")

    lane = CallbackLane(lambda environ, start_response: [b"flask"])
    lane.add("/cb", answer)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/cb",
        "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
        "CONTENT_LENGTH": "6",
        "QUERY_STRING": "key=a%20b",
        "wsgi.input": io.BytesIO(b"text=1POST /next HTTP/1.1"),
    }
    statuses = []
    body = lane(environ, lambda status, headers: statuses.append((status, headers)))
    assert received == [b"text=1"]
    assert body == [b"END ok"]
    assert statuses == [("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "6")])]


def test_the_lane_parses_the_query_and_media_type_like_flask():
    import io

    seen: list[CallbackRequest] = []

    def answer(given: CallbackRequest) -> CallbackAnswer:
        seen.append(given)
        return CallbackAnswer(403, "END no")

    lane = CallbackLane(lambda environ, start_response: [b"flask"])
    lane.add("/cb", answer)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/cb",
        "CONTENT_TYPE": "Application/X-WWW-Form-Urlencoded; charset=utf-8",
        "QUERY_STRING": "key=a%20b&key=second",
        "wsgi.input": io.BytesIO(b"never read: no length, not terminated"),
    }
    statuses = []
    lane(environ, lambda status, headers: statuses.append(status))
    assert statuses == ["403 Forbidden"]
    assert seen[0].query == {"key": "a b"}
    assert seen[0].mimetype == "application/x-www-form-urlencoded"
    assert seen[0].content_length is None
    assert seen[0].read(100) == b""
