import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from stand_ins.at_sandbox.testing import post_sms, set_faults
from tests.support import wait_until

MESSAGE_ID = re.compile(r"^ATXid_[0-9a-f]{32}$")


def test_send_answers_like_the_real_api(sandbox, payload):
    request = payload("sms_send_request.form.json")
    expected = payload("sms_send_response_201.json")
    answer = post_sms(sandbox.url, **{**request, "to": f"{request['to']},+25470000"})

    assert answer.status_code == 201
    assert answer.headers["Content-Type"] == "application/json"
    data = answer.json()["SMSMessageData"]
    assert data["Message"] == expected["SMSMessageData"]["Message"] == "Sent to 1/2 Total Cost: KES 0.8000"
    sent, refused = data["Recipients"]
    expected_sent, expected_refused = expected["SMSMessageData"]["Recipients"]
    assert set(sent) == set(expected_sent) and set(refused) == set(expected_refused)
    assert {k: sent[k] for k in ("statusCode", "number", "status", "cost")} == {
        "statusCode": 101,
        "number": "+254712345678",
        "status": "Success",
        "cost": "KES 0.8000",
    }
    assert MESSAGE_ID.match(sent["messageId"])
    assert refused == expected_refused


def test_cost_is_per_segment(sandbox):
    two_gsm = post_sms(sandbox.url, message="a" * 161).json()["SMSMessageData"]
    assert two_gsm["Recipients"][0]["cost"] == "KES 1.6000"
    three_ucs2 = post_sms(sandbox.url, message="ë" * 135, to="+254712345678,+254712345679").json()[
        "SMSMessageData"
    ]
    assert three_ucs2["Recipients"][0]["cost"] == "KES 2.4000"
    assert three_ucs2["Message"] == "Sent to 2/2 Total Cost: KES 4.8000"


def test_missing_api_key_is_refused(sandbox):
    answer = requests.post(f"{sandbox.url}/version1/messaging", data={"username": "sandbox"}, timeout=5)
    assert answer.status_code == 401
    assert answer.headers["Content-Type"] == "text/plain"
    assert answer.text == "The supplied authentication is invalid"


def test_missing_fields_are_a_400(sandbox):
    answer = post_sms(sandbox.url, message="")
    assert answer.status_code == 400
    assert "message" in answer.text


def test_faults_default_set_and_clear(sandbox):
    initial = requests.get(f"{sandbox.url}/sandbox/faults", timeout=5).json()
    assert initial["http_status"] is None and initial["fail_next"] == 0 and initial["recipient_codes"] == {}
    assert (
        set_faults(sandbox.url, {"latency_ms": 10, "recipient_codes": {"+254700000403": 403}})["latency_ms"]
        == 10
    )
    assert set_faults(sandbox.url, {}) == initial
    for bad in ({"http_status": 200}, {"nonsense": 1}, {"recipient_codes": {"+254700000403": 999}}, [1]):
        assert requests.post(f"{sandbox.url}/sandbox/faults", json=bad, timeout=5).status_code == 400


@pytest.mark.parametrize("status", [500, 503, 401])
def test_http_status_fault(sandbox, status):
    set_faults(sandbox.url, {"http_status": status})
    assert post_sms(sandbox.url).status_code == status
    assert post_sms(sandbox.url).status_code == status
    set_faults(sandbox.url, {})
    assert post_sms(sandbox.url).status_code == 201


def test_fail_next(sandbox):
    set_faults(sandbox.url, {"fail_next": 2})
    assert [post_sms(sandbox.url).status_code for _ in range(3)] == [500, 500, 201]
    assert requests.get(f"{sandbox.url}/sandbox/faults", timeout=5).json()["fail_next"] == 0


def test_recipient_codes(sandbox):
    set_faults(
        sandbox.url, {"recipient_codes": {"+254700000403": 403, "+254700000405": 405, "+254700000500": 500}}
    )
    data = post_sms(sandbox.url, to="+254700000403,+254700000405,+254700000500,+254700000101").json()[
        "SMSMessageData"
    ]
    assert [(r["statusCode"], r["status"], r["messageId"] == "None") for r in data["Recipients"]] == [
        (403, "InvalidPhoneNumber", True),
        (405, "InsufficientBalance", True),
        (500, "InternalServerError", True),
        (101, "Success", False),
    ]
    assert data["Message"] == "Sent to 1/4 Total Cost: KES 0.8000"


def test_invalid_sender(sandbox, payload):
    set_faults(sandbox.url, {"invalid_sender": True})
    answer = post_sms(sandbox.url, **{"from": "NOPE"})
    assert answer.status_code == 201
    assert answer.json() == payload("sms_send_response_bad_sender.json")


def test_latency_does_not_serialise_senders(sandbox):
    set_faults(sandbox.url, {"latency_ms": 300})
    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(lambda _: post_sms(sandbox.url).status_code, range(10)))
    elapsed = time.monotonic() - started
    assert codes == [201] * 10
    assert 0.3 <= elapsed < 2.5  # 10 x 300 ms would be 3 s served one at a time


def test_timeout_fault_outlasts_the_client_and_clearing_wakes_it(sandbox):
    set_faults(sandbox.url, {"timeout_ms": 10_000})  # both requests still asleep at the clear
    with pytest.raises(requests.ReadTimeout):
        post_sms(sandbox.url, timeout=(1, 0.3))
    switch = sandbox.app.extensions["at_sandbox"].faults
    assert wait_until(lambda: switch.sleeping == 1)  # the abandoned request sleeps on
    started = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(post_sms, sandbox.url)
        assert wait_until(lambda: switch.sleeping == 2)
        set_faults(sandbox.url, {})
        assert pending.result().status_code == 201
    assert time.monotonic() - started < 2
