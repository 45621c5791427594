"""Nothing lost when the call drops: a session that ends mid-application keeps its draft, and the
citizen gets one SMS in their language with the code that continues it. Through the Africa's
Talking callback and session-end event, the real session store in Redis, the SMS outbox in SQL
and, for STOP, the SMS worker sending to the Africa's Talking sandbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from citizen.drafts import DraftNotices, announced_journey
from menus.engine import ActionResult
from records.sms import SmsMessage
from sessions.drops import DropWatch
from sms.outbox import render_message
from tests.conftest import Dialler

PHONE = "+254712345678"  # a registered citizen
NEWCOMER = "+254722111222"  # not registered yet
REGISTERING = ("1", "23456789", "Wanjiku")  # Register, the ID, the first name: waiting for the last name

SAVED = {
    "en": {
        "register": "eCitizen: Your registration is saved. Dial *384*123*0# within 24 hours to finish it",
        "apply": "eCitizen: Your application for Good conduct is saved. Dial *384*123*0# within 24 hours "
        "to continue where you left off. To apply again later: *384*123*2*101#",
        "last_name": "Last name",
        "county": "County for fingerprints (2/2)",
        "nothing": "Nothing saved to continue.\nWelcome back, Wanjiku\n2. Apply",
    },
    "sw": {
        "register": "eCitizen: Usajili wako umehifadhiwa. Piga *384*123*0# ndani ya saa 24 kuumaliza",
        "apply": "eCitizen: Ombi lako la Cheti cha maadili limehifadhiwa. Piga *384*123*0# ndani ya saa 24 "
        "kuendelea ulipoachia. Kuomba tena baadaye: *384*123*2*101#",
        "last_name": "Jina la mwisho",
        "county": "Kaunti ya kuchukua alama za vidole (2/2)",
        "nothing": "Hakuna kilichohifadhiwa cha kuendelea.\nKaribu tena, Wanjiku\n2. Omba",
    },
}

GOOD_CONDUCT = {
    "code": "good_conduct",
    "short_code": "101",
    "name": {"en": "Certificate of Good Conduct", "sw": "Cheti cha Maadili Mema"},
    "short_name": {"en": "Good conduct", "sw": "Cheti cha maadili"},
    "department": {"code": "DCI", "name": {"en": "DCI", "sw": "DCI"}},
    "fee_kes": 1050,
    "fields": [
        {
            "name": "purpose",
            "type": "choice",
            "prompt": {"en": "Purpose of the certificate", "sw": "Sababu ya kuomba cheti"},
            "choices": [{"value": "employment", "label": {"en": "Employment", "sw": "Ajira"}}],
        },
        {
            "name": "county",
            "type": "name",
            "prompt": {"en": "County for fingerprints", "sw": "Kaunti ya kuchukua alama za vidole"},
            "min_length": 3,
            "max_length": 20,
        },
    ],
}


@pytest.fixture()
def gateway(app, monkeypatch):
    """The app with a core (no HTTP) that knows one citizen, PHONE, and offers one service."""
    from backend_client.models import Citizen, Service

    wanjiku = Citizen(
        id=1,
        phone=PHONE,
        first_name="Wanjiku",
        last_name="Kamau",
        national_id_masked="*****789",
        date_of_birth="1990-05-01",
        created_at="2025-01-01T00:00:00+00:00",
    )
    actions = app.extensions["actions"]
    monkeypatch.setattr(
        actions.client, "find_citizen", lambda phone, **_k: wanjiku if phone == PHONE else None
    )
    monkeypatch.setattr(actions.catalogue, "services", lambda _budget: [Service.model_validate(GOOD_CONDUCT)])
    return app


def caller(app, session_id: str, phone: str = PHONE) -> Dialler:
    return Dialler(app.test_client(), phone=phone, session_id=session_id)


def ended(app, session_id: str, status: str = "Incomplete", phone: str = PHONE):
    """Africa's Talking's session-end event."""
    form = {
        "date": "2026-11-28 09:20:03",
        "sessionId": session_id,
        "serviceCode": "*384*123#",
        "networkCode": "63902",
        "phoneNumber": phone,
        "status": status,
        "cost": "KES 0.0000",
        "durationInMillis": "180000",
        "hopsCount": "3",
        "input": "",
        "lastAppResponse": "",
        "errorMessage": "",
    }
    response = app.test_client().post("/ussd/africastalking/events", data=form)
    assert response.status_code == 200
    return response


def outbox(app, phone: str = PHONE) -> list[SmsMessage]:
    with app.extensions["database"].session() as session:
        return list(
            session.scalars(select(SmsMessage).where(SmsMessage.phone == phone).order_by(SmsMessage.id))
        )


def body(message: SmsMessage) -> str:
    return render_message(message.template, message.language or "en", message.params).body


def speak(app, lang: str, phone: str = PHONE) -> None:
    if lang == "sw":
        caller(app, f"lang-{phone}", phone).dial("8", "2")


def later(app) -> float:
    """A moment after every session now open has gone silent for good."""
    return time.time() + app.extensions["settings"].session_ttl_s + 1


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_a_dropped_application_gets_one_sms_whose_code_continues_it(gateway, lang):
    speak(gateway, lang)
    applying = caller(gateway, f"apply-{lang}")
    assert SAVED[lang]["county"] in applying.dial("2", "101", "1")  # typed the purpose, then dropped
    ended(gateway, f"apply-{lang}")
    ended(gateway, f"apply-{lang}", status="Failed")  # the aggregator repeats itself
    assert gateway.extensions["drafts"].sweep(now=later(gateway)) == 0  # and the sweep finds it too
    [saved] = outbox(gateway)
    assert saved.template == "draft_saved_apply" and saved.language == lang
    assert body(saved) == SAVED[lang]["apply"]

    # the code in the SMS continues at the county, with the purpose kept, and finishes the form
    again = caller(gateway, f"resume-{lang}")
    assert again.dial("0").startswith(f"CON {SAVED[lang]['county']}")
    summary = again.press("Nairobi")
    assert "Nairobi" in summary and ("Employment" in summary or "Ajira" in summary)
    ended(gateway, f"resume-{lang}")  # dropped again after resuming: the same draft, no second SMS
    assert [m.template for m in outbox(gateway)] == ["draft_saved_apply"]


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_a_registration_gone_silent_is_found_by_the_sweep_on_one_of_two_nodes(gateway, redis_client, lang):
    speak(gateway, lang, NEWCOMER)
    assert SAVED[lang]["last_name"] in caller(gateway, f"reg-{lang}", NEWCOMER).dial(*REGISTERING)
    one = gateway.extensions["drafts"]
    # a second gateway node: its own objects, the same Redis and outbox
    other = DraftNotices(
        one.store, one.trees, DropWatch(redis_client), one.notify, idle_s=one.idle_s, keep_s=one.keep_s
    )
    assert one.sweep(now=time.time()) == other.sweep(now=time.time()) == 0  # not silent long enough yet
    assert outbox(gateway, NEWCOMER) == []
    start = threading.Barrier(2)
    sent: list[int] = []

    def sweep(node: DraftNotices) -> None:
        start.wait()
        sent.append(node.sweep(now=later(gateway)))

    threads = [threading.Thread(target=sweep, args=(node,)) for node in (one, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(sent) == [0, 1]
    [saved] = outbox(gateway, NEWCOMER)
    assert saved.template == "draft_saved_register" and body(saved).startswith(SAVED[lang]["register"])
    # the draft now outlives the usual resume window, and the code continues it
    ttl = redis_client.ttl(gateway.extensions["hops"].store.session_key(NEWCOMER, f"reg-{lang}"))
    assert ttl > gateway.extensions["settings"].draft_ttl_s
    assert caller(gateway, f"back-{lang}", NEWCOMER).dial("0").startswith(f"CON {SAVED[lang]['last_name']}")


def test_a_session_answered_again_is_not_announced(gateway):
    dialler = caller(gateway, "busy", NEWCOMER)
    dialler.dial(*REGISTERING)
    watch = gateway.extensions["drafts"].watch
    assert watch.pending() == 1
    dialler.press("Kamau")  # the citizen is still there
    watch.watch(NEWCOMER, "busy", time.time() - 1)  # as if it had been due before that answer
    assert gateway.extensions["drafts"].sweep(now=time.time()) == 0
    assert outbox(gateway, NEWCOMER) == [] and watch.pending() == 1  # watched again, from the answer on


@pytest.mark.parametrize(
    "keys",
    [
        ("7", "1"),  # help: reading a topic
        ("2",),  # apply: looking at the departments, nothing typed
        ("2", "101"),  # a service's first question, not answered yet
        ("3",),  # track: asked for a reference
        ("1", "23456789", "Wanjiku", "Kamau", "01/05/1990", "4826", "4826"),  # registered: finished
    ],
    ids=["help", "departments", "first-question", "track", "finished"],
)
def test_browsing_or_a_finished_journey_gets_no_sms(gateway, monkeypatch, keys):
    actions = gateway.extensions["actions"]
    monkeypatch.setattr(actions, "register", lambda *_: ActionResult(ok=True, data={"registered": "yes"}))
    caller(gateway, "browse", NEWCOMER).dial(*keys)
    ended(gateway, "browse", phone=NEWCOMER)
    assert gateway.extensions["drafts"].sweep(now=later(gateway)) == 0
    assert outbox(gateway, NEWCOMER) == []


def test_a_successful_end_is_not_a_drop(gateway):
    caller(gateway, "ok", NEWCOMER).dial(*REGISTERING)
    ended(gateway, "ok", status="Success", phone=NEWCOMER)
    assert outbox(gateway, NEWCOMER) == []


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_the_continue_code_with_nothing_saved_says_so_on_the_main_menu(gateway, lang):
    speak(gateway, lang)
    assert caller(gateway, f"none-{lang}").dial("0").startswith(f"CON {SAVED[lang]['nothing']}")


def test_a_draft_replaced_by_a_newer_session_is_not_announced(gateway):
    caller(gateway, "old").dial("2", "101", "1")
    caller(gateway, "new").dial("2", "101", "1", "Nairobi")  # the citizen dialled again and went on
    ended(gateway, "old")
    assert outbox(gateway) == []
    ended(gateway, "new")
    assert [m.template for m in outbox(gateway)] == ["draft_saved_apply"]


def test_the_rule_for_what_counts_as_mid_application():
    from config import Settings
    from menus.engine import SessionState
    from menus.registry import TreeRegistry

    tree = TreeRegistry.from_directory(Settings().trees_dir).current("ecitizen")

    def state(node: str, stack: list[str]) -> SessionState:
        return SessionState("ecitizen", tree.version, node, "en", stack=stack)

    assert announced_journey(tree, state("reg_last", ["main", "reg_id", "reg_first"])) == "register"
    assert announced_journey(tree, state("apply_summary", ["main", "apply_field"])) == "apply"
    assert announced_journey(tree, state("apply_done", ["main", "apply_field", "apply_pin"])) is None
    assert announced_journey(tree, state("apply_service", ["main", "apply_department"])) is None
    assert announced_journey(tree, state("track_ref", ["main"])) is None


# ---- STOP -------------------------------------------------------------------------------------------


@pytest.fixture()
def sms_worker(gateway) -> Iterator:
    from stand_ins.at_sandbox.testing import running_sandbox
    from tests.sms_channel.conftest import worker_context

    with running_sandbox() as sandbox:
        context = worker_context(gateway.extensions["sms"], sandbox.url)
        yield context
        context.close()


def test_stop_is_honoured(gateway, sms_worker):
    from tests.sms_channel.conftest import drain

    client = gateway.test_client()
    stop = {"id": "ATMsg_stop", "from": PHONE, "to": "22384", "text": "STOP", "date": "2026-11-28 10:00:00"}
    answer = client.post("/sms/africastalking/inbound", data=stop | {"linkId": "", "networkCode": "63902"})
    assert answer.status_code == 200 and gateway.extensions["sms"].opted_out(PHONE)
    caller(gateway, "stopped").dial("2", "101", "1")
    ended(gateway, "stopped")
    other = NEWCOMER
    caller(gateway, "listening", phone=other).dial(*REGISTERING)
    ended(gateway, "listening", phone=other)
    statuses = {(m.phone, m.template): m.status for m in drain(sms_worker)}
    assert statuses[(PHONE, "draft_saved_apply")] == "opted_out"
    assert statuses[(other, "draft_saved_register")] == "sent"
