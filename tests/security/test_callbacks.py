"""Aggregator callbacks, attacked: a forger posts as any phone to the USSD, session-end, delivery
report and inbound-SMS endpoints, without the callback secret, with a wrong one, from a network
that is not Africa's Talking's, and with an X-Forwarded-For written to look like it. Each is
refused with 403 and nothing is acted on: no session, no record, no opt-out, no SMS; whether the
callback lane or Flask's route answers the USSD callback."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from records.sms import SmsInbound, SmsMessage, SmsOptOut
from records.ussd import UssdSessionEnd

SECRET = "Zq8v2-callback-secret-for-tests-Lk3pW9"
AT_NETWORK = "196.201.214.0/24"
AT_ADDRESS = "196.201.214.5"
ELSEWHERE = "203.0.113.7"
PHONE = "+254711800001"

FORMS = {
    "/ussd/africastalking": {
        "sessionId": "ATUid_forged",
        "serviceCode": "*384*123#",
        "phoneNumber": PHONE,
        "networkCode": "63902",
        "text": "",
    },
    "/ussd/africastalking/events": {
        "sessionId": "ATUid_forged",
        "serviceCode": "*384*123#",
        "phoneNumber": PHONE,
        "networkCode": "63902",
        "status": "Success",
        "durationInMillis": "1000",
    },
    "/sms/africastalking/delivery": {"id": "ATXid_forged", "status": "Failed", "phoneNumber": PHONE},
    "/sms/africastalking/inbound": {"id": "ATMsg_forged", "from": PHONE, "to": "22384", "text": "STOP"},
}


@pytest.fixture(params=["lane", "flask"])
def settings(settings, database_url, request):
    """Every attack runs twice: on the callback lane and on Flask's routes."""
    return replace(settings, callback_lane=request.param == "lane")


def gateway(settings, **changes):
    from app import create_app

    app = create_app(replace(settings, at_callback_secret=SECRET, **changes))
    app.extensions["database"].upgrade()
    return app


def nothing_acted_on(app, redis_client) -> bool:
    with app.extensions["database"].session() as db:
        rows = [
            db.scalar(select(func.count()).select_from(table))
            for table in (UssdSessionEnd, SmsInbound, SmsOptOut, SmsMessage)
        ]
    return rows == [0, 0, 0, 0] and not list(redis_client.scan_iter(f"u:{{{PHONE}}}:*"))


def post(app, path: str, key: str | None, address: str = AT_ADDRESS, forwarded: str | None = None):
    query = {"key": key} if key is not None else {}
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return app.test_client().post(
        path, query_string=query, data=FORMS[path], headers=headers, environ_base={"REMOTE_ADDR": address}
    )


@pytest.mark.parametrize("path", list(FORMS))
@pytest.mark.parametrize("key", [None, "", "wrong-secret", SECRET.upper(), SECRET[:-1]])
def test_a_callback_without_the_secret_is_refused_and_acts_on_nothing(settings, redis_client, path, key):
    app = gateway(settings)
    answer = post(app, path, key)
    assert answer.status_code == 403
    if path == "/ussd/africastalking":
        assert answer.get_data(as_text=True).startswith("END ")  # still a screen, never a stack trace
    else:
        assert answer.json["error"] == "forbidden"
    assert nothing_acted_on(app, redis_client)


@pytest.mark.parametrize("path", list(FORMS))
def test_a_callback_from_another_network_is_refused_even_with_the_secret(settings, redis_client, path):
    app = gateway(settings, at_allowed_networks=(AT_NETWORK,))
    assert post(app, path, SECRET, address=ELSEWHERE).status_code == 403
    assert nothing_acted_on(app, redis_client)


@pytest.mark.parametrize("path", list(FORMS))
def test_a_forged_x_forwarded_for_is_not_believed_without_a_trusted_proxy(settings, redis_client, path):
    app = gateway(settings, at_allowed_networks=(AT_NETWORK,))
    assert post(app, path, SECRET, address=ELSEWHERE, forwarded=AT_ADDRESS).status_code == 403
    assert nothing_acted_on(app, redis_client)


@pytest.mark.parametrize("path", list(FORMS))
def test_behind_one_trusted_proxy_only_the_address_it_saw_counts(settings, redis_client, path):
    """The client writes X-Forwarded-For: <an AT address>; the load balancer appends the address it
    really saw. With TRUSTED_PROXY_COUNT=1 only that last one is believed."""
    app = gateway(settings, at_allowed_networks=(AT_NETWORK,), trusted_proxy_count=1)
    forged = f"{AT_ADDRESS}, {ELSEWHERE}"
    assert post(app, path, SECRET, address="10.0.0.2", forwarded=forged).status_code == 403
    assert nothing_acted_on(app, redis_client)


def test_the_real_aggregator_gets_through_directly_and_behind_the_proxy(settings, redis_client):
    direct = gateway(settings, at_allowed_networks=(AT_NETWORK,))
    assert post(direct, "/ussd/africastalking", SECRET).get_data(as_text=True).startswith("CON Welcome")
    proxied = gateway(settings, at_allowed_networks=(AT_NETWORK,), trusted_proxy_count=1)
    hop = post(proxied, "/ussd/africastalking", SECRET, address="10.0.0.2", forwarded=AT_ADDRESS)
    assert hop.status_code == 200 and hop.get_data(as_text=True).startswith("CON Welcome")
    answer = post(proxied, "/sms/africastalking/inbound", SECRET, address="10.0.0.2", forwarded=AT_ADDRESS)
    assert answer.status_code == 200 and answer.json["command"] == "stop"


def test_production_always_has_a_callback_secret(settings):
    from app import create_app
    from common.production import InsecureSettings

    values = {
        "secret_key": "Kx7-secret-key-for-tests-0123456789abcdefgh",
        "webhook_secret": "Wq2-webhook-secret-0123456789abcdefghijklm",
        "at_api_key": "Ap9-api-key-0123456789abcdefghijklmnopq",
    }
    with pytest.raises(InsecureSettings) as refused:
        create_app(replace(settings, gateway_env="production", password_hash_profile="default", **values))
    assert refused.value.problems == ["AT_CALLBACK_SECRET is not set"]
