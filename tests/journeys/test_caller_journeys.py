"""The second pass over the citizen journeys, end to end: the Africa's Talking callback, the engine,
the actions, CoreClient and the reference core service over real HTTP on 127.0.0.1.

- the main menu knows the caller, with one core lookup per phone while the answer is remembered
  (tests/journeys/test_known_callers.py), and never waits on a core that is down or slow;
- a registered citizen applies by a service's short code in at most 6 hops (counted as requests),
  with name, date of birth and ID filled from their record;
- when the M-Pesa prompt cannot be sent or fails, the paybill instructions reach the citizen on
  screen and by SMS, and a paybill payment reaches the application through the core's record.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import pytest
import requests
from sqlalchemy import select

from gateway.events import signature_of
from sms.outbox import render_message
from stand_ins.core_service.models import WebhookEvent
from stand_ins.core_service.testing import WsgiThread
from tests.conftest import Dialler
from tests.journeys.test_citizen_services import (
    PIN,
    REFERENCE,
    applications,
    caller,
    choose_language,
    outbox,
    register_over_http,
    session_ends,
)

MENU = {
    "en": {
        "greeting": "CON Welcome back, {first}\n2. Apply for a service\n3. Track application\n"
        "4. My applications\n5. Pay\n6. Feedback\n7. Help\n8. Language",
        "guest": "CON Welcome to eCitizen\n1. Register\n2. Apply for a service\n3. Track application\n",
    },
    "sw": {
        "greeting": "CON Karibu tena, {first}\n2. Omba huduma\n3. Fuatilia ombi\n4. Maombi yangu\n5. Lipa\n"
        "6. Maoni\n7. Msaada\n8. Lugha",
        "guest": "CON Karibu eCitizen\n1. Jisajili\n2. Omba huduma\n3. Fuatilia ombi\n",
    },
}

APPLY = {
    "en": {
        "purpose": "Purpose of the certificate (1/2)",
        "county": "County for fingerprints (2/2)",
        "fee": "Fee: KES 1,050",
        "pin": "Enter PIN to confirm",
        "done": "Submitted. Reference number: ",
        "next_time": "Next time: *384*123*2*101#",
        "size": "Passport size (1/3)",
        "paybill": "Paybill 222222, account {reference}, KES 1,050.",
        "prompt": "No prompt? Paybill 222222, account {reference}.",
        "paid": "Fee KES 1,050: Paid",
    },
    "sw": {
        "purpose": "Sababu ya kuomba cheti (1/2)",
        "county": "Kaunti ya kuchukua alama za vidole (2/2)",
        "fee": "Ada: KES 1,050",
        "pin": "Weka PIN kuthibitisha",
        "done": "Imepokelewa. Nambari ya kumbukumbu: ",
        "next_time": "Wakati ujao: *384*123*2*101#",
        "size": "Ukubwa wa pasipoti (1/3)",
        "paybill": "Paybill 222222, akaunti {reference}, KES 1,050.",
        "prompt": "Hakuna ombi? Paybill 222222, akaunti {reference}.",
        "paid": "Ada KES 1,050: Imelipwa",
    },
}


class CountingDialler(Dialler):
    """A phone that counts its requests to the callback: one hop each."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.hops = 0

    def post(self, text: str) -> str:
        self.hops += 1
        return super().post(text)


def counting(app, phone: str, session: str) -> CountingDialler:
    return CountingDialler(app.test_client(), phone=phone, session_id=session)


def count_calls(monkeypatch, client, name: str) -> list[str]:
    """Record each call of `client.name` (by the phone it asks about)."""
    calls: list[str] = []
    original = getattr(client, name)

    def counted(*args, **kwargs):
        calls.append(args[0] if args else kwargs.get("phone", ""))
        return original(*args, **kwargs)

    monkeypatch.setattr(client, name, counted)
    return calls


# ---- 1. a main menu that knows the caller -----------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_the_main_menu_knows_the_caller_with_one_lookup_per_phone(core_app, core, monkeypatch, lang):
    phone, stranger = {"en": ("+254711000201", "+254711000202"), "sw": ("+254721000201", "+254721000202")}[
        lang
    ]
    person = register_over_http(core, phone)
    lookups = count_calls(monkeypatch, core_app.extensions["core_client"], "find_citizen")
    choose_language(core_app, phone, lang)  # in Kiswahili, a session of its own first
    if lang == "sw":  # that session hung up: its caller is remembered from its end notice
        session_ends(core_app, phone, f"lang-{phone}")

    dialler = caller(core_app, phone, f"known-{lang}")
    assert dialler.dial() == MENU[lang]["greeting"].format(first=person["first_name"])
    for key in ("7", "1", "0", "00", "3", "00", "4"):  # help, back, home, track, home, my applications
        assert dialler.press(key).startswith("CON ")
    # menus never asked again, nor did My applications' registration check, nor a second session
    assert lookups == [phone]

    choose_language(core_app, stranger, lang)
    if lang == "sw":
        session_ends(core_app, stranger, f"lang-{stranger}")
    assert caller(core_app, stranger, f"stranger-{lang}").dial().startswith(MENU[lang]["guest"])
    assert lookups == [phone, stranger]


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_with_the_core_down_everyone_gets_the_full_menu_at_once(core_app, core, lang):
    phone = {"en": "+254711000301", "sw": "+254721000301"}[lang]
    register_over_http(core, phone)
    choose_language(core_app, phone, lang)
    core_app.extensions["hops"].store.forget_caller(phone)  # nobody remembers who this is
    core.stop()
    started = time.monotonic()
    screen = caller(core_app, phone, f"down-{lang}").dial()
    assert screen.startswith(MENU[lang]["guest"]) and time.monotonic() - started < 1.0


def _slow_core(environ, start_response):
    time.sleep(2.0)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b"{}"]


def test_a_slow_core_does_not_hold_up_the_main_menu(settings):
    from app import create_app

    with WsgiThread(_slow_core) as slow:
        app = create_app(replace(settings, core_url=slow.url, caller_lookup_ms=300))
        app.extensions["database"].upgrade()
        started = time.monotonic()
        screen = caller(app, "+254711000401", "slow-menu").dial()
        elapsed = time.monotonic() - started
        app.extensions["core_client"].close()
    assert screen.startswith(MENU["en"]["guest"])
    assert elapsed < 0.8, elapsed  # the lookup's own budget, not the hop's 2.5 s


def test_a_core_that_cannot_answer_is_asked_again_after_the_configured_pauses(settings, monkeypatch):
    from app import create_app
    from config import Settings

    asked = []

    def unavailable(environ, start_response):
        asked.append(environ["PATH_INFO"])
        start_response("503 Service Unavailable", [("Content-Type", "application/json")])
        return [b'{"error": "unavailable"}']

    monkeypatch.setenv("CORE_RETRY_BACKOFF_MS", "40")
    backoff = Settings.from_env().core_retry_backoff_ms
    pauses = []  # the hop's own (the test client runs it on this thread), not other threads' timers
    real_sleep, hop_thread = time.sleep, threading.current_thread()

    def sleep(seconds: float) -> None:
        if threading.current_thread() is hop_thread:
            pauses.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    with WsgiThread(unavailable) as core:
        app = create_app(replace(settings, core_url=core.url, core_retry_backoff_ms=backoff))
        screen = caller(app, "+254711000402", "retried").dial()
        app.extensions["core_client"].close()
    assert screen.startswith(MENU["en"]["guest"])
    assert asked == ["/citizens"] * 3 and pauses == pytest.approx([0.04, 0.08])


# ---- 2 and 6. short codes, prefill, at most 6 hops ---------------------------------------------


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_a_registered_citizen_applies_by_short_code_in_at_most_six_hops(core_app, core, lang):
    phone = {"en": "+254711000501", "sw": "+254721000501"}[lang]
    person = register_over_http(core, phone)
    choose_language(core_app, phone, lang)
    text = APPLY[lang]
    full_name = f"{person['first_name']} {person['last_name']}"
    masked_id = "*****" + person["national_id"][-3:]

    apply = counting(core_app, phone, f"code-{lang}")
    assert text["purpose"] in apply.dial("2", "101")  # straight to the form: name and ID not asked
    assert text["county"] in apply.press("1")
    summary = apply.press("Nairobi")
    assert f"{full_name}, ID {masked_id}" in summary and text["fee"] in summary
    assert text["pin"] in apply.press("1")
    done = apply.press(PIN)
    assert text["done"] in done and text["next_time"] in done
    assert apply.hops == 5

    # a passport asks three things; name, date of birth and ID come from the record
    passport = counting(core_app, phone, f"passport-{lang}")
    assert text["size"] in passport.dial("2", "501")
    passport.press("2")
    passport.press("Nyeri")
    summary = passport.press("2")
    born = "/".join(reversed(person["date_of_birth"].split("-")))
    assert f"{full_name}, ID {masked_id}, {born}" in summary
    passport.press("1")
    assert REFERENCE.search(passport.press(PIN))
    assert passport.hops == 6

    by_service = {a.service_code: json.loads(a.answers_json) for a in applications(core)}
    assert by_service["good_conduct"] == {
        "purpose": "employment",
        "county": "Nairobi",
        "full_name": full_name,
        "national_id": masked_id,
    }
    assert by_service["passport"]["date_of_birth"] == person["date_of_birth"]
    assert by_service["passport"]["place_of_birth"] == "Nyeri"


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_a_name_field_refuses_digits_in_the_callers_language(core_app, core, lang):
    phone = {"en": "+254711000601", "sw": "+254721000601"}[lang]
    register_over_http(core, phone)
    choose_language(core_app, phone, lang)
    dialler = caller(core_app, phone, f"name-{lang}")
    dialler.dial("2", "201")  # a birth certificate copy: whose certificate is asked
    refused = dialler.press("2580")
    expected = {"en": "Use letters only, no digits.", "sw": "Tumia herufi pekee, bila tarakimu."}[lang]
    assert refused.startswith(f"CON {expected}\n")
    assert "(2/3)" in dialler.press("Akinyi Ng'ang'a")


# ---- 5. pay another way ---------------------------------------------------------------------


def relay_core_events(core, app, kind: str) -> list[dict]:
    """Post the core's webhook events of `kind` to the gateway, as the core's delivery thread
    would (these tests run the core without it), signed with the gateway's secret."""
    with core.flask_app.extensions["core"].session_factory() as db:
        events = [
            (e.id, e.body)
            for e in db.scalars(select(WebhookEvent).order_by(WebhookEvent.created_at))
            if e.type == kind
        ]
    secret = app.extensions["settings"].webhook_secret
    client = app.test_client()
    for event_id, body in events:
        raw = body.encode()
        answer = client.post(
            "/events/application-status",
            data=raw,
            headers={
                "Content-Type": "application/json",
                "X-Event-Id": event_id,
                "X-Signature": signature_of(raw, secret, event_id, int(time.time())),
            },
        )
        # a later relay posts the earlier events again: the gateway refuses those as replays
        assert answer.status_code in (200, 202) or answer.json["error"] == "replayed", answer.json
    return [json.loads(body) for _, body in events]


def pay_by_paybill(core, reference: str, amount: str = "1050.00", trans_id: str = "RKTQDM7W6S") -> None:
    """Safaricom's C2B confirmation: someone paid the paybill with the reference as account."""
    body = {
        "TransactionType": "Pay Bill",
        "TransID": trans_id,
        "TransTime": "20250301093000",
        "TransAmount": amount,
        "BusinessShortCode": "222222",
        "BillRefNumber": reference,
        "MSISDN": "2547 ***** 123",
    }
    answer = requests.post(
        f"{core.url}/mpesa/c2b/confirmation", params={"token": "dev-c2b-token"}, json=body, timeout=5
    )
    assert answer.json()["ResultCode"] == "0"


def apply_for_good_conduct(app, phone: str, session: str) -> tuple[Dialler, str]:
    dialler = caller(app, phone, session)
    dialler.dial("2", "101", "1", "Nairobi", "1")
    done = dialler.press(PIN)
    return dialler, REFERENCE.search(done).group(0)


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_when_the_prompt_cannot_be_sent_the_paybill_is_shown_sent_and_reaches_paid(core_app, core, lang):
    phone = {"en": "+254711000701", "sw": "+254721000701"}[lang]
    register_over_http(core, phone)
    choose_language(core_app, phone, lang)
    text = APPLY[lang]
    dialler, reference = apply_for_good_conduct(core_app, phone, f"paybill-{lang}")

    core.stop()
    screen = dialler.press("1")  # Pay now: the prompt cannot be sent
    assert screen.startswith("END ") and text["paybill"].format(reference=reference) in screen
    [sms] = [m for m in outbox(core_app, phone) if m.template == "paybill_instructions"]
    assert sms.params == {"amount": "1,050", "reference": reference} and sms.language == lang

    core.start()
    core_app.extensions["core_client"].breaker.record_success()
    pay_by_paybill(core, reference.lower())  # typed loosely as the account: still found
    [settled] = relay_core_events(core, core_app, "payment.settled")
    assert settled["payment"]["method"] == "paybill" and settled["payment"]["status"] == "paid"
    assert "payment_paid" in [m.template for m in outbox(core_app, phone)]
    assert text["paid"] in caller(core_app, phone, f"track-{lang}").dial("3", reference)


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_a_failed_prompt_sends_the_paybill_by_sms_and_the_paybill_pays(core_app, core, lang):
    # the reference core fails every prompt to this number, as an old SIM that never shows it
    phone = "+254700000000"
    register_over_http(core, phone)
    choose_language(core_app, phone, lang)
    text = APPLY[lang]
    dialler, reference = apply_for_good_conduct(core_app, phone, f"failed-{lang}")
    started = dialler.press("1")
    assert started.startswith("END ") and text["prompt"].format(reference=reference) in started

    deadline = time.monotonic() + 5
    polls = 0
    while not relay_core_events(core, core_app, "payment.settled"):
        assert time.monotonic() < deadline, "the prompt never settled"
        polls += 1
        caller(core_app, phone, f"poll-{lang}-{polls}").dial("3", reference)  # reading it settles it
    [failed] = [m for m in outbox(core_app, phone) if m.template == "payment_failed"]
    message = render_message("payment_failed", lang, failed.params).body
    assert f"Paybill 222222, {'account' if lang == 'en' else 'akaunti'} {reference}" in message

    pay_by_paybill(core, reference, trans_id="SKTQDM7W6T")
    assert text["paid"] in caller(core_app, phone, f"paid-{lang}").dial("3", reference)
    relay_core_events(core, core_app, "payment.settled")
    assert [m.template for m in outbox(core_app, phone) if m.template.startswith("payment_")] == [
        "payment_failed",
        "payment_paid",
    ]


# ---- 4. nothing lost when the call drops --------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_a_dropped_application_is_finished_from_the_sms_code_against_the_real_core(core_app, core, lang):
    phone = {"en": "+254711000801", "sw": "+254721000801"}[lang]
    register_over_http(core, phone)
    choose_language(core_app, phone, lang)
    text = APPLY[lang]
    first = caller(core_app, phone, f"dropped-{lang}")
    assert text["county"] in first.dial("2", "101", "1")
    end = {"sessionId": f"dropped-{lang}", "serviceCode": "*384*123#", "networkCode": "63902"}
    end |= {"phoneNumber": phone, "status": "Incomplete", "date": "2026-11-28 09:20:03"}
    assert core_app.test_client().post("/ussd/africastalking/events", data=end).status_code == 200
    [saved] = [m for m in outbox(core_app, phone) if m.template.startswith("draft_saved")]
    sms = render_message(saved.template, lang, saved.params).body
    dial = "*384*123*0#"
    assert dial in sms and "*384*123*2*101#" in sms

    again = counting(core_app, phone, f"continued-{lang}")
    assert text["county"] in again.dial(*dial.removeprefix("*384*123*").removesuffix("#").split("*"))
    assert text["fee"] in again.press("Nairobi")
    again.press("1")
    assert text["done"] in again.press(PIN) and again.hops == 4
    assert [a.service_code for a in applications(core)] == ["good_conduct"]
