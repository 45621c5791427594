import time

import requests

from stand_ins.at_sandbox.testing import post_sms, running_sandbox, set_faults
from tests.support import wait_until


def messages(sandbox, **params):
    answer = requests.get(f"{sandbox.url}/sandbox/messages", params=params, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_messages_lists_what_was_received(sandbox):
    first = post_sms(sandbox.url, to="+254712345678", message="one", **{"from": "ECITIZEN"}).json()
    post_sms(sandbox.url, to="+254733000111,+25470000", message="two")
    listed = messages(sandbox)
    assert [(m["to"], m["message"], m["status"]) for m in listed] == [
        ("+254712345678", "one", "Success"),
        ("+254733000111", "two", "Success"),
        ("+25470000", "two", "InvalidPhoneNumber"),
    ]
    entry = listed[0]
    assert entry["id"] == first["SMSMessageData"]["Recipients"][0]["messageId"]
    assert entry["from"] == "ECITIZEN" and entry["segments"] == 1 and entry["encoding"] == "GSM-7"
    assert entry["received_at"].endswith("Z")
    for key in ("id", "to", "from", "message", "segments", "received_at", "status"):
        assert key in entry

    assert [m["message"] for m in messages(sandbox, phone="+254712345678")] == ["one"]
    assert [m["message"] for m in messages(sandbox, phone="254712345678")] == ["one"]
    assert [m["to"] for m in messages(sandbox, since=entry["id"])] == ["+254733000111", "+25470000"]
    assert [m["to"] for m in messages(sandbox, since=str(listed[1]["seq"]))] == ["+25470000"]
    assert len(messages(sandbox, since=entry["received_at"])) == 2
    assert len(messages(sandbox, since=str(time.time() + 60))) == 0
    assert requests.get(f"{sandbox.url}/sandbox/messages?since=yesterday", timeout=5).status_code == 400

    assert requests.delete(f"{sandbox.url}/sandbox/messages", timeout=5).json() == {"deleted": 3}
    assert messages(sandbox) == []


def test_delivery_reports_reach_the_gateway(sandbox, receiver, payload):
    expected_fields = set(payload("sms_delivery_reports.form.json")[1])
    set_faults(sandbox.url, {"dlr_failures": {"+254712345670": "AbsentSubscriber"}})
    data = post_sms(sandbox.url, to="+254712345678,+254712345670").json()["SMSMessageData"]
    ids = [r["messageId"] for r in data["Recipients"]]

    reports = sorted(receiver.wait_for(2), key=lambda r: ids.index(r["id"]))
    assert len(reports) == 2
    delivered, failed = reports
    assert set(delivered) == expected_fields
    assert delivered == {
        "id": ids[0],
        "status": "Success",
        "phoneNumber": "+254712345678",
        "networkCode": "63902",
        "retryCount": "0",
    }
    assert failed["status"] == "Failed" and failed["failureReason"] == "AbsentSubscriber"
    wait_until(lambda: all(m["dlr_posted"] for m in messages(sandbox)), timeout=2)
    assert [(m["delivery_status"], m["dlr_posted"]) for m in messages(sandbox)] == [
        ("Success", True),
        ("Failed", True),
    ]


def test_delivery_reports_are_retried_while_the_gateway_is_down(sandbox, receiver):
    receiver.status = 503
    post_sms(sandbox.url)
    wait_until(lambda: receiver.attempts >= 2, timeout=3)
    assert receiver.attempts >= 2 and receiver.received == []
    receiver.status = 200
    assert [r["status"] for r in receiver.wait_for(1)] == ["Success"]


def test_submitted_report_comes_first_when_asked(receiver):
    with running_sandbox(DLR_URL=receiver.url, DLR_SUBMITTED=True, DLR_DELAY_MS=200) as server:
        post_sms(server.url)
        assert [r["status"] for r in receiver.wait_for(2)] == ["Submitted", "Success"]


def test_inbound_sms_is_forwarded_as_africastalking_posts_it(sandbox, receiver, payload):
    expected_fields = set(payload("sms_inbound.form.json")[0])
    answer = requests.post(
        f"{sandbox.url}/sandbox/inbound",
        json={"from": "+254712345678", "text": "STATUS ECZ-7K3Q9P"},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    (form,) = receiver.wait_for(1)
    assert set(form) == expected_fields
    assert form["from"] == "+254712345678" and form["text"] == "STATUS ECZ-7K3Q9P"
    assert form["to"] == "22384" and form["linkId"] == "" and form["networkCode"] == "63902"
    assert form["id"] == answer.json()["id"]
    assert len(form["date"]) == 19


def test_inbound_reports_a_gateway_that_is_down():
    with running_sandbox(INBOUND_URL="http://127.0.0.1:9/nowhere", CALLBACK_TIMEOUT_S=1) as server:
        inbound = f"{server.url}/sandbox/inbound"
        answer = requests.post(inbound, json={"from": "+254712345678", "text": "HELP"}, timeout=5)
        assert answer.status_code == 502
        assert requests.post(inbound, json={"text": "HELP"}, timeout=5).status_code == 400
