"""Citizen journeys end to end: the Africa's Talking callback, the engine, the actions, CoreClient and
the reference core service over real HTTP on 127.0.0.1, plus its faults (down, slow, back again)."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import requests
from rq import Queue
from rq.job import Job
from sqlalchemy import func, select

from citizen.queued import QUEUE_NAME, submit
from common.jobs import SimpleContextWorker
from records.sms import SmsMessage
from stand_ins.core_service.models import Application, IdempotencyRecord
from stand_ins.core_service.testing import CoreServer, WsgiThread, unregistered_people
from tests.conftest import Dialler
from tests.stand_ins.core_service.conftest import ADMIN

PIN = "4826"
REFERENCE = re.compile(r"ECZ-[0-9A-Z]{6}")

# What each language shows at the steps the test checks.
SCREENS = {
    "en": {
        "welcome": "Welcome to eCitizen",
        "id": "Enter your national ID number",
        "registered": "You are registered on eCitizen.",
        "dci": "1. Police (DCI)",
        "good_conduct": "1. Good conduct",
        "purpose": "Purpose of the certificate (1/2)",
        "county": "County for fingerprints (2/2)",
        "fee": "Fee: KES 1,050",
        "pin": "Enter PIN to confirm",
        "wrong_pin": "Wrong PIN. 2 tries left.",
        "submitted": "Submitted. Reference number: ",
        "mpesa": "You will receive an M-Pesa prompt",
        "under_review": "Status: Under review since ",
        "sorry": "END Sorry, the service is busy, please try again shortly.",
        "queued": "We will send your reference number by SMS.",
    },
    "sw": {
        "welcome": "Karibu eCitizen",
        "id": "Weka nambari ya kitambulisho",
        "registered": "Umesajiliwa kwenye eCitizen.",
        "dci": "1. Polisi (DCI)",
        "good_conduct": "1. Cheti cha maadili",
        "purpose": "Sababu ya kuomba cheti (1/2)",
        "county": "Kaunti ya kuchukua alama za vidole (2/2)",
        "fee": "Ada: KES 1,050",
        "pin": "Weka PIN kuthibitisha",
        "wrong_pin": "PIN si sahihi. Majaribio 2 yamebaki.",
        "submitted": "Imepokelewa. Nambari ya kumbukumbu: ",
        "mpesa": "Utapokea ombi la M-Pesa",
        "under_review": "Hali: Inashughulikiwa tangu ",
        "sorry": "END Samahani, huduma ina shughuli nyingi, tafadhali jaribu tena baadaye.",
        "queued": "Tutakutumia nambari ya kumbukumbu kwa SMS.",
    },
}


def caller(app, phone: str, session: str) -> Dialler:
    return Dialler(app.test_client(), phone=phone, session_id=session)


def session_ends(app, phone: str, session: str, status: str = "Success") -> None:
    """Africa's Talking's end-of-session notice, as it posts one after every session."""
    form = {
        "sessionId": session,
        "serviceCode": "*384*123#",
        "networkCode": "63902",
        "phoneNumber": phone,
        "status": status,
        "durationInMillis": "9000",
        "hopsCount": "1",
    }
    assert app.test_client().post("/ussd/africastalking/events", data=form).status_code == 200


def choose_language(app, phone: str, lang: str) -> None:
    if lang == "sw":
        caller(app, phone, f"lang-{phone}").dial("8", "2")


def register_over_http(core: CoreServer, phone: str) -> dict[str, str]:
    """Register someone from the core's population register on `phone`; returns the person."""
    person = unregistered_people(core.url)[0]
    body = person | {"phone": phone, "pin": PIN}
    assert requests.post(f"{core.url}/citizens", json=body, timeout=5).status_code == 201
    return person


def typed_date(iso: str) -> str:
    """'1990-05-01' as a citizen types it: '01/05/1990'."""
    year, month, day = iso.split("-")
    return f"{day}/{month}/{year}"


def applications(core: CoreServer) -> list[Application]:
    with core.flask_app.extensions["core"].session_factory() as db:
        return list(db.scalars(select(Application)).all())


def to_summary(dialler: Dialler) -> str:
    """Apply for a certificate of good conduct up to the summary screen (employment, Nairobi)."""
    dialler.dial("2")
    dialler.press("1")
    dialler.press("1")
    dialler.press("1")
    return dialler.press("Nairobi")


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_register_apply_pay_track(core_app, core, lang):
    phone = {"en": "+254712345678", "sw": "+254722345678"}[lang]
    text = SCREENS[lang]
    choose_language(core_app, phone, lang)

    register = caller(core_app, phone, f"reg-{lang}")
    assert text["welcome"] in register.dial()
    assert text["id"] in register.press("1")
    person = unregistered_people(core.url)[0]
    # names as a citizen may type them: case and spacing differ from the register's
    names = (person["first_name"].upper(), f" {person['last_name'].lower()} ")
    for key in (person["national_id"], *names, typed_date(person["date_of_birth"]), PIN):
        register.press(key)
    assert text["registered"] in register.press(PIN)
    assert caller(core_app, phone, f"again-{lang}").dial("1").startswith("CON ")  # already registered

    # deep dials: a plain dial would first offer to continue the registration left on its last screen
    apply = caller(core_app, phone, f"apply-{lang}")
    assert text["dci"] in apply.dial("2")
    assert text["good_conduct"] in apply.press("1")
    assert text["purpose"] in apply.press("1")
    assert text["county"] in apply.press("1")
    assert text["fee"] in apply.press("Nairobi")
    assert text["pin"] in apply.press("1")
    assert text["wrong_pin"] in apply.press("4827")
    done = apply.press(PIN)
    assert text["submitted"] in done, done
    reference = REFERENCE.search(done).group(0)
    paying = apply.press("1")  # Pay now
    assert paying.startswith("END ") and text["mpesa"] in paying and reference in paying

    [application] = applications(core)
    assert application.reference == reference and application.answers_json
    moved = requests.post(
        f"{core.url}/admin/applications/{reference}/status",
        json={"status": "under_review"},
        headers=ADMIN,
        timeout=5,
    )
    assert moved.status_code == 200

    track = caller(core_app, phone, f"track-{lang}")
    status = track.dial("3", reference.lower().replace("-", ""))
    assert text["under_review"] in status and reference in status
    mine = caller(core_app, phone, f"mine-{lang}").dial("4")
    assert f"1. {reference}" in mine
    # the welcome SMS is in the outbox; "application submitted" comes from the core's webhook
    assert "registration_welcome" in [m.template for m in outbox(core_app, phone)]


REGISTER_SCREENS = {
    "en": {
        "mismatch": "The details do not match the national register.",
        "taken": "This ID number is already registered. Please visit a Huduma Centre",
        "too_many": "Too many details did not match.",
    },
    "sw": {
        "mismatch": "Taarifa hazilingani na sajili ya taifa.",
        "taken": "Nambari hii ya kitambulisho imeshasajiliwa.",
        "too_many": "Taarifa nyingi hazikulingana.",
    },
}


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_registration_is_checked_against_the_population_register(core_app, core, lang):
    phone, other = {"en": ("+254712000101", "+254712000102"), "sw": ("+254722000101", "+254722000102")}[lang]
    text, screens = SCREENS[lang], REGISTER_SCREENS[lang]
    choose_language(core_app, phone, lang)
    choose_language(core_app, other, lang)
    person = unregistered_people(core.url)[0]
    typed = [person["national_id"], person["first_name"], person["last_name"]]
    born = typed_date(person["date_of_birth"])
    wrong_year = born[:-4] + str(int(born[-4:]) - 1)

    register = caller(core_app, phone, f"reg-mismatch-{lang}")
    screen = register.dial("1", *typed, wrong_year, PIN, PIN)
    assert screens["mismatch"] in screen and "Huduma Centre" in screen
    assert text["id"] in register.press("1")  # try again
    for key in (*typed, born, PIN):
        register.press(key)
    assert text["registered"] in register.press(PIN)

    # the same person on another phone: sent to a Huduma Centre, told nothing of the first phone
    taken = caller(core_app, other, f"reg-taken-{lang}").dial("1", *typed, born, PIN, PIN)
    assert screens["taken"] in taken and "Huduma Centre" in taken
    assert phone not in taken and phone[-3:] not in taken

    # guessing a date of birth from the other phone stops after five tries
    for year_back in range(2, 8):
        guess = born[:-4] + str(int(born[-4:]) - year_back)
        last = caller(core_app, other, f"guess-{lang}-{year_back}").dial("1", *typed, guess, PIN, PIN)
    assert screens["too_many"] in last and "Huduma Centre" in last


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_core_stopped_mid_journey_reads_apologise_then_recover(core_app, core, lang):
    phone = "+254733000111"
    text = SCREENS[lang]
    register_over_http(core, phone)
    choose_language(core_app, phone, lang)
    track = caller(core_app, phone, "mid-1")
    to_summary(track)
    track.press("1")
    reference = REFERENCE.search(track.press(PIN)).group(0)

    mine = caller(core_app, phone, "mid-2")
    assert f"1. {reference}" in mine.dial("4")
    core.stop()
    started = time.monotonic()
    assert mine.press("1").startswith(text["sorry"])  # the status needs the core service
    assert caller(core_app, phone, "mid-3").dial("3", reference).startswith(text["sorry"])
    assert time.monotonic() - started < 3

    core.start()
    core_app.extensions["core_client"].breaker.record_success()  # skip the breaker's cool-down
    assert reference in caller(core_app, phone, "mid-4").dial("3", reference)


def test_application_confirmed_while_core_is_down_is_queued_and_submitted_once(
    core_app, core, redis_server, capfd
):
    phone = "+254744000222"
    national_id = register_over_http(core, phone)["national_id"]
    dialler = caller(core_app, phone, "queued-1")
    assert "Fee: KES 1,050" in to_summary(dialler)  # the catalogue was read while it was up
    dialler.press("1")
    core.stop()
    screen = dialler.press(PIN)
    assert screen.startswith("END ") and SCREENS["en"]["queued"] in screen

    connection = redis_server.client()
    queue = Queue(QUEUE_NAME, connection=connection)
    [job] = queue.get_jobs()
    # everything but the idempotency key travels sealed: no PIN, phone or answer readable in Redis
    assert set(job.kwargs) == {"sealed", "idempotency_key"}
    assert PIN not in str(job.kwargs) and phone not in str(job.kwargs) and PIN not in (job.description or "")
    key = job.kwargs["idempotency_key"]
    [queued] = outbox(core_app, phone)
    assert queued.template == "application_queued" and PIN not in f"{queued.params} {queued.body}"

    # still down: the attempt fails and the job waits for a retry instead of being dropped
    work = core_app.extensions["queued_work"]
    SimpleContextWorker([queue], connection=connection, context=work).work(burst=True)
    assert job.get_status(refresh=True) == "scheduled"

    core.start()
    core_app.extensions["core_client"].breaker.record_success()
    queue.scheduled_job_registry.schedule(job, datetime.now(UTC) - timedelta(seconds=1))
    SimpleContextWorker([queue], connection=connection, context=work).work(burst=True, with_scheduler=True)
    # done: the job is deleted at once (result_ttl=0), its sealed fields with it
    assert Job.exists(job.id, connection=connection) is False
    [reference] = [a.reference for a in applications(core)]
    assert REFERENCE.fullmatch(reference)

    # a second run of the same job (a worker killed after the call, say) creates nothing new
    again = submit(
        work,
        phone,
        "good_conduct",
        json.loads(work.box.open(job.kwargs["sealed"]))["answers"],
        PIN,
        key,
        "en",
    )
    assert again == reference
    assert [a.reference for a in applications(core)] == [reference]
    with core.flask_app.extensions["core"].session_factory() as db:
        count = db.scalar(select(func.count()).where(IdempotencyRecord.key == key))
    assert count == 1
    logged = "".join(capfd.readouterr())
    assert PIN not in logged and national_id not in logged and phone not in logged


class SlowCore:
    """A core service that answers only once `release` is set (or after 5 s)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def __call__(self, environ, start_response):
        self.release.wait(5)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]


def test_slow_core_gets_an_apology_within_the_hop_budget(settings):
    from app import create_app

    core = SlowCore()
    with WsgiThread(core) as slow:
        app = create_app(replace(settings, core_url=slow.url, hop_budget_ms=400))
        dialler = caller(app, "+254755000333", "slow-1")
        started = time.monotonic()
        screen = dialler.dial("3", "ECZ-7K3Q9P")
        elapsed = time.monotonic() - started
        core.release.set()
        assert screen.startswith(SCREENS["en"]["sorry"])
        assert elapsed < 0.8, elapsed
        app.extensions["core_client"].close()


def outbox(app, phone: str) -> list[SmsMessage]:
    """The SMS queued for `phone`, oldest first."""
    with app.extensions["database"].session() as session:
        query = select(SmsMessage).where(SmsMessage.phone == phone).order_by(SmsMessage.id)
        return list(session.scalars(query))


def test_core_writes_and_feedback_reach_the_audit_trail_without_personal_data(core_app, core):
    phone = "+254755000333"
    national_id = register_over_http(core, phone)["national_id"]
    dialler = caller(core_app, phone, "audit-1")
    to_summary(dialler)
    dialler.press("1")
    assert REFERENCE.search(dialler.press(PIN))
    feedback = caller(core_app, phone, "audit-2")
    feedback.dial("6")
    feedback.press("1")  # the first service
    feedback.press("5")  # very good
    assert feedback.press("2").startswith("END ")  # no comment, send
    events = [
        {k.decode(): v.decode() for k, v in fields.items()}
        for _, fields in core_app.extensions["redis"].xrange("audit:events")
    ]
    backend = [e for e in events if e["kind"] == "backend"]
    assert any(e["operation"] == "POST /applications" and e["ok"] == "1" for e in backend)
    assert not any(e["operation"].startswith("GET") for e in backend)  # reads go to /metrics only
    assert [e["rating"] for e in events if e["kind"] == "feedback"] == ["5"]
    flat = str(events)
    assert PIN not in flat and phone not in flat and national_id not in flat
    metrics = core_app.test_client().get("/metrics").get_data(as_text=True)
    assert 'backend_request_seconds_count{operation="POST /applications"}' in metrics
