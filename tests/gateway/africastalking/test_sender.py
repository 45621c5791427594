import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import africastalking
import pytest
import requests
from africastalking.Service import DEFAULT_TIMEOUT_S, AfricasTalkingException
from werkzeug.wrappers import Response

from gateway.africastalking.sender import (
    AfricasTalkingSender,
    OutcomeKind,
    ProviderConfig,
    SendOutcome,
    connect,
    judge_error,
    judge_response,
    parse_timeout,
)
from stand_ins.at_sandbox.testing import ServerThread, set_faults

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PHONE = "+254712345678"


def messages(sandbox):
    return requests.get(f"{sandbox.url}/sandbox/messages", timeout=5).json()


def test_the_sdk_pointed_at_the_sandbox_gets_a_dict(sandbox):
    service = connect(ProviderConfig(api_url=sandbox.url))
    assert service._baseUrl == f"{sandbox.url}/version1"
    response = service.send("Habari", [PHONE], sender_id="ECITIZEN", enqueue=True)
    assert isinstance(response, dict)
    assert response["SMSMessageData"]["Recipients"][0]["statusCode"] == 101
    (received,) = messages(sandbox)
    assert (received["to"], received["from"], received["message"]) == (PHONE, "ECITIZEN", "Habari")


def test_accepted(sender, sandbox):
    outcome = sender.send(PHONE, "a" * 161)
    assert outcome.kind is OutcomeKind.ACCEPTED and outcome.accepted and not outcome.retryable
    assert outcome.status_code == 101 and outcome.cost == "KES 1.6000"
    assert outcome.message_id == messages(sandbox)[0]["id"]


@pytest.mark.parametrize(
    ("faults", "kind", "status_code", "reason"),
    [
        ({"latency_ms": 300}, "accepted", 101, "Sent"),
        ({"recipient_codes": {PHONE: 102}}, "accepted", 102, "Queued"),
        ({"recipient_codes": {PHONE: 100}}, "accepted", 100, "Processed"),
        ({"recipient_codes": {PHONE: 401}}, "permanent", 401, "RiskHold"),
        ({"recipient_codes": {PHONE: 403}}, "permanent", 403, "InvalidPhoneNumber"),
        ({"recipient_codes": {PHONE: 404}}, "permanent", 404, "UnsupportedNumberType"),
        ({"recipient_codes": {PHONE: 405}}, "permanent", 405, "InsufficientBalance"),
        ({"recipient_codes": {PHONE: 406}}, "permanent", 406, "UserInBlacklist"),
        ({"recipient_codes": {PHONE: 407}}, "permanent", 407, "CouldNotRoute"),
        ({"recipient_codes": {PHONE: 409}}, "permanent", 409, "DoNotDisturbRejection"),
        ({"recipient_codes": {PHONE: 500}}, "transient", 500, "InternalServerError"),
        ({"recipient_codes": {PHONE: 501}}, "transient", 501, "GatewayError"),
        ({"recipient_codes": {PHONE: 502}}, "transient", 502, "RejectedByGateway"),
        ({"invalid_sender": True}, "permanent", None, "InvalidSenderId"),
        ({"http_status": 500}, "transient", None, "provider error: Internal Server Error"),
        ({"http_status": 503}, "transient", None, "provider error: Service Unavailable"),
        ({"http_status": 401}, "transient", None, "AuthenticationInvalid: check AT_USERNAME and AT_API_KEY"),
        ({"fail_next": 1}, "transient", None, "provider error: Internal Server Error"),
        ({"timeout_ms": 5000}, "transient", None, "timeout (ReadTimeout)"),
    ],
)
def test_every_fault_maps_to_an_outcome(sender, sandbox, faults, kind, status_code, reason):
    set_faults(sandbox.url, faults)
    outcome = sender.send(PHONE, "Habari")
    assert (outcome.kind, outcome.status_code, outcome.reason) == (kind, status_code, reason)
    assert (outcome.message_id is not None) == (kind == "accepted")
    set_faults(sandbox.url, {})  # also wakes a request still sleeping on timeout_ms


def test_fail_next_then_recovers(sender, sandbox):
    set_faults(sandbox.url, {"fail_next": 2})
    kinds = [sender.send(PHONE, "Habari").kind for _ in range(3)]
    assert kinds == ["transient", "transient", "accepted"]


def test_invalid_phone_is_permanent_before_any_request(sender, sandbox):
    assert sender.send("0712345678", "Habari") == SendOutcome(
        OutcomeKind.PERMANENT, status_code=403, reason="InvalidPhoneNumber"
    )
    assert sender.send("+25470000", "Habari").kind == "permanent"  # refused by the provider instead
    assert [m["to"] for m in messages(sandbox)] == ["+25470000"]


def test_empty_body_is_permanent(sender):
    assert sender.send(PHONE, "") == SendOutcome(OutcomeKind.PERMANENT, reason="EmptyMessage")


def test_provider_unreachable_is_transient():
    sender = AfricasTalkingSender(ProviderConfig(api_url="http://127.0.0.1:9", timeout=(0.5, 0.5)))
    outcome = sender.send(PHONE, "Habari")
    assert outcome.kind == "transient" and outcome.reason == "network error (ConnectionError)"


def _fake_provider(content_type, body, status=201):
    return ServerThread(
        lambda environ, start: Response(body, status=status, content_type=content_type)(environ, start)
    )


def test_wrong_content_type_is_transient():
    with _fake_provider("text/html", "<html>Gateway page</html>") as fake:
        outcome = AfricasTalkingSender(ProviderConfig(api_url=fake.url)).send(PHONE, "Habari")
    assert outcome.kind == "transient"
    assert outcome.reason.startswith("provider answered non-JSON (Content-Type not application/json)")


def test_json_with_a_charset_is_still_judged():
    # The SDK returns a str here; judging it avoids re-sending a message the provider accepted.
    body = (FIXTURES / "sms_send_response_201.json").read_text()
    with _fake_provider("application/json; charset=utf-8", body) as fake:
        outcome = AfricasTalkingSender(ProviderConfig(api_url=fake.url)).send(PHONE, "Habari")
    assert outcome.accepted and outcome.message_id == "ATXid_3f1c2b0a9e8d7c6b5a4f3e2d1c0b9a8f"


def test_recorded_responses_are_judged_per_recipient():
    recorded = json.loads((FIXTURES / "sms_send_response_201.json").read_text())
    assert judge_response(recorded, PHONE) == SendOutcome(
        OutcomeKind.ACCEPTED,
        message_id="ATXid_3f1c2b0a9e8d7c6b5a4f3e2d1c0b9a8f",
        cost="KES 0.8000",
        status_code=101,
        reason="Sent",
    )
    assert judge_response(recorded, "+25470000") == SendOutcome(
        OutcomeKind.PERMANENT, status_code=403, reason="InvalidPhoneNumber"
    )
    bad_sender = json.loads((FIXTURES / "sms_send_response_bad_sender.json").read_text())
    assert judge_response(bad_sender, PHONE) == SendOutcome(OutcomeKind.PERMANENT, reason="InvalidSenderId")
    assert judge_response({"unexpected": 1}, PHONE).kind == "transient"
    assert (
        judge_response({"SMSMessageData": {"Recipients": [{"statusCode": "x"}]}}, PHONE).kind == "transient"
    )
    unknown = judge_response(
        {"SMSMessageData": {"Recipients": [{"statusCode": 499, "status": "New"}]}}, PHONE
    )
    assert (unknown.kind, unknown.reason) == ("permanent", "unknown statusCode 499 (New)")


def test_errors_never_escape_and_hide_phone_numbers():
    leaked = judge_error(AfricasTalkingException("Blocked +254712345678 for now"))
    assert (
        leaked.kind == "transient"
        and "+254712345678" not in leaked.reason
        and "+2547****678" in leaked.reason
    )
    coded = judge_error(
        AfricasTalkingException(json.dumps({"SMSMessageData": {"Recipients": [{"statusCode": 409}]}}))
    )
    assert (coded.kind, coded.status_code) == ("permanent", 409)
    assert judge_error(requests.ConnectTimeout()).reason == "timeout (ConnectTimeout)"
    assert judge_error(RuntimeError("boom")) == SendOutcome(
        OutcomeKind.TRANSIENT, reason="unexpected RuntimeError"
    )


def test_logs_mask_the_phone_and_omit_the_body(sender, sandbox, caplog):
    set_faults(sandbox.url, {"recipient_codes": {PHONE: 406}})
    with caplog.at_level(logging.DEBUG, logger="gateway.africastalking.sender"):
        sender.send(PHONE, "Secret body text")
    logged = caplog.text
    assert "+2547****678" in logged
    assert PHONE not in logged and "Secret body text" not in logged


def test_send_many_is_concurrent_and_keeps_order(sandbox):
    # A read timeout well above the latency: on a busy machine 50 answers at once come late.
    sender = AfricasTalkingSender(
        ProviderConfig(api_url=sandbox.url, sender_id="ECITIZEN", timeout=(2.0, 5.0))
    )
    set_faults(sandbox.url, {"latency_ms": 300, "recipient_codes": {"+254700000007": 403}})
    items = [(f"+2547000000{i:02d}", f"message {i}") for i in range(50)]
    started = time.monotonic()
    outcomes = sender.send_many(items, max_workers=50)
    elapsed = time.monotonic() - started
    # Serially it would take 15 s; half of that still proves overlap on a busy 2-core machine.
    assert elapsed < 7.5, f"50 sends at 300 ms took {elapsed:.1f}s"
    assert [o.kind for o in outcomes] == ["permanent" if i == 7 else "accepted" for i in range(50)]
    received = {m["id"]: m for m in messages(sandbox)}
    for (phone, body), outcome in zip(items, outcomes, strict=True):
        if outcome.accepted:
            assert (received[outcome.message_id]["to"], received[outcome.message_id]["message"]) == (
                phone,
                body,
            )
    assert sender.send_many([]) == []


@pytest.mark.filterwarnings("ignore:Sandbox is currently not available")
def test_the_sender_keeps_its_own_service_whatever_the_sdk_globals_become(sandbox):
    sender = AfricasTalkingSender(ProviderConfig(api_url=sandbox.url))
    africastalking.initialize("sandbox", "someone-else")  # e.g. another module using the SDK
    assert sender.send(PHONE, "still ours").accepted
    assert africastalking.SMS._baseUrl == "https://api.sandbox.africastalking.com/version1"
    service = connect(ProviderConfig(api_url=f"{sandbox.url}/version1/"))
    assert service is not africastalking.SMS
    assert service._baseUrl == service._contentUrl == f"{sandbox.url}/version1"
    assert connect(ProviderConfig(username="live-user"))._baseUrl == "https://api.africastalking.com/version1"


class KeepAliveProvider:
    """A provider that keeps connections open (HTTP/1.1, as Africa's Talking and the granian-served
    sandbox do; werkzeug's test server closes each one) and notes the connection of every send."""

    def __init__(self) -> None:
        provider = self
        self.sends: list[tuple[str, int]] = []  # (message, client port)
        self.connections: list[socket.socket] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                provider.connections.append(self.connection)

            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                provider.sends.append((form["message"][0], self.client_address[1]))
                recipient = {"statusCode": 101, "number": form["to"][0], "status": "Success"}
                recipient |= {"cost": "KES 0.8000", "messageId": f"ATXid_{len(provider.sends)}"}
                body = json.dumps({"SMSMessageData": {"Message": "Sent", "Recipients": [recipient]}}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def keep_alive_provider():
    provider = KeepAliveProvider()
    yield provider
    provider.close()


def test_sends_reuse_their_threads_connection(keep_alive_provider, monkeypatch):
    """The SDK alone opens a connection per message (`requests.post`); the sender never does."""

    def new_connection(*_args, **_kwargs):
        raise AssertionError("a message sent on a new connection")

    monkeypatch.setattr(requests, "post", new_connection)
    sender = AfricasTalkingSender(ProviderConfig(api_url=keep_alive_provider.url, timeout=(1.0, 2.0)))
    outcomes = [sender.send(PHONE, f"message {n}") for n in range(3)]
    assert [o.message_id for o in outcomes] == ["ATXid_1", "ATXid_2", "ATXid_3"]
    assert len({port for _, port in keep_alive_provider.sends}) == 1


def test_a_kept_connection_the_provider_closed_is_replaced_before_use(keep_alive_provider):
    sender = AfricasTalkingSender(ProviderConfig(api_url=keep_alive_provider.url, timeout=(1.0, 2.0)))
    assert sender.send(PHONE, "first").accepted
    keep_alive_provider.connections[0].shutdown(socket.SHUT_RDWR)  # an idle connection timed out
    assert sender.send(PHONE, "second").accepted
    assert [message for message, _ in keep_alive_provider.sends] == ["first", "second"]
    assert len({port for _, port in keep_alive_provider.sends}) == 2


def test_config_from_env(monkeypatch):
    for name in ("AT_USERNAME", "AT_API_KEY", "AT_SENDER_ID", "AT_API_URL", "AT_TIMEOUT_S", "AT_ENQUEUE"):
        monkeypatch.delenv(name, raising=False)
    assert ProviderConfig.from_env() == ProviderConfig(
        username="sandbox", api_key="sandbox-key", sender_id=None, api_url=None, timeout=DEFAULT_TIMEOUT_S
    )
    monkeypatch.setenv("AT_USERNAME", "ecitizen")
    monkeypatch.setenv("AT_API_KEY", "k")
    monkeypatch.setenv("AT_SENDER_ID", "ECITIZEN")
    monkeypatch.setenv("AT_API_URL", "http://127.0.0.1:8025")
    monkeypatch.setenv("AT_TIMEOUT_S", "1,2.5")
    monkeypatch.setenv("AT_ENQUEUE", "0")
    assert ProviderConfig.from_env() == ProviderConfig(
        "ecitizen", "k", "ECITIZEN", "http://127.0.0.1:8025", (1.0, 2.5), False
    )
    assert parse_timeout("4") == 4.0
    with pytest.raises(ValueError, match="AT_TIMEOUT_S"):
        parse_timeout("1,2,3")


def test_the_form_is_the_bytes_urlencode_writes():
    import random
    from urllib.parse import urlencode

    from gateway.africastalking.sender import form_body

    rng = random.Random(14)
    alphabet = [chr(c) for c in range(0, 256)] + list("€ëé中😀\u200b\ufeff") + list("+&=%#?/ ~._-")
    for _ in range(500):
        data = {
            "username": "sandbox",
            "to": "+2547" + "".join(rng.choice("0123456789") for _ in range(8)),
            "message": "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200))),
            "bulkSMSMode": rng.choice([1, True, "1"]),
            rng.choice(["from", "a b", "k&y=", "ñ"]): rng.choice([b"\x00\xff raw", "ECITIZEN", 22384]),
        }
        assert form_body(data) == urlencode(data).encode(), data
