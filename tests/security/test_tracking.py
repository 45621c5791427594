"""Tracking applications, attacked: guessing references by USSD Track, Pay and SMS STATUS from one
phone and from many, a single hop that carries dozens of references, and an aggregator retrying
one hop 32 times at once. No guess may reach a real application's details, the core may see only
a bounded number of lookups, the owner keeps their own, and retries never cost the citizen their
hops."""

from __future__ import annotations

import itertools
import random
import string
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests
from sqlalchemy import select

from records.sms import SmsMessage
from stand_ins.core_service.testing import CoreServer, unregistered_people
from tests.conftest import Dialler
from tests.stand_ins.core_service.conftest import GOOD_CONDUCT, core_config, registration

# Starts processes or waits seconds on real time: scheduled first (tests/conftest.py).
pytestmark = pytest.mark.long

OWNER, STRANGER = "+254711900001", "+254711900002"
PIN = "4826"
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # the core's reference letters (no 0/O/1/I/L)
DETAILS = ("Status:", "Certificate of Good Conduct", "good_conduct", "1,050", "Submitted", "submitted")


@pytest.fixture
def core(tmp_path) -> Iterator[CoreServer]:
    with CoreServer(core_config(tmp_path)) as server:
        for phone, person in zip((OWNER, STRANGER), unregistered_people(server.url, 2), strict=True):
            assert requests.post(
                f"{server.url}/citizens", json=registration(person, phone, PIN), timeout=10
            ).ok
        yield server


@pytest.fixture
def references(core) -> list[str]:
    made = []
    for n in range(3):
        answer = requests.post(
            f"{core.url}/applications",
            json={"phone": OWNER, "pin": PIN} | GOOD_CONDUCT,
            headers={"Idempotency-Key": f"owner-track-{n:04d}"},
            timeout=10,
        )
        assert answer.status_code == 201
        made.append(answer.json()["reference"])
    return made


class CountingCore:
    """Counts the application lookups that reach the core service through the gateway's client."""

    def __init__(self, client) -> None:
        self.calls = 0
        self.lock = threading.Lock()
        for name in ("get_application", "start_payment"):
            original = getattr(client, name)

            def counted(*args, _original=original, **kwargs):
                with self.lock:
                    self.calls += 1
                return _original(*args, **kwargs)

            setattr(client, name, counted)


@pytest.fixture
def gateway(settings, core):
    from app import create_app

    application = create_app(replace(settings, core_url=core.url, rate_limit_per_minute=1000))
    application.extensions["database"].upgrade()
    application.config["TESTING"] = True
    application.extensions["lookups"] = CountingCore(application.extensions["core_client"])
    yield application
    application.extensions["core_client"].close()


_sessions = itertools.count(1)


def dial(gateway, phone: str, *keys: str) -> str:
    return Dialler(gateway.test_client(), phone=phone, session_id=f"guess-{next(_sessions)}").dial(*keys)


def status_sms(gateway, phone: str, reference: str) -> tuple[str, str]:
    form = {
        "id": f"ATMsg_guess_{next(_sessions)}",
        "from": phone,
        "to": "22384",
        "text": f"STATUS {reference}",
    }
    assert gateway.test_client().post("/sms/africastalking/inbound", data=form).status_code == 200
    with gateway.extensions["database"].session() as db:
        query = select(SmsMessage).where(SmsMessage.phone == phone).order_by(SmsMessage.id.desc())
        message = db.scalars(query).first()
    return message.template, f"{message.params} {message.body or ''}"


def random_reference(rng: random.Random) -> str:
    return "ECZ-" + "".join(rng.choice(ALPHABET) for _ in range(6))


def test_two_hundred_guesses_in_a_minute_reach_no_real_applications_details(gateway, references):
    """An attacker who also knows the real references, rotating over 40 phones (one of them
    registered, so Pay by reference is open to it) and three channels (USSD Track, Pay by
    reference, SMS STATUS), mixes them into 200 guesses."""
    rng = random.Random(254)
    guesses = [random_reference(rng) for _ in range(170)] + references * 10
    rng.shuffle(guesses)
    phones = [STRANGER] + [f"+2547119{n:05d}" for n in range(10, 49)]
    started = time.monotonic()
    seen = []
    for n, guess in enumerate(guesses):
        phone = phones[n % len(phones)]
        channel = n % 3
        if channel == 0:
            seen.append(dial(gateway, phone, "3", guess))
        elif channel == 1:
            seen.append(dial(gateway, phone, "5", "2", guess))
        else:
            seen.append(status_sms(gateway, phone, guess)[1])
    assert time.monotonic() - started < 60
    leaked = [screen for screen in seen if any(word in screen for word in DETAILS) or "M-Pesa" in screen]
    assert leaked == []
    # the core saw at most the per-reference allowance of each real reference, plus the random misses
    limits = gateway.extensions["settings"]
    assert gateway.extensions["lookups"].calls <= 170 + 3 * limits.lookup_max_misses_per_reference
    # the owner still sees every application of theirs under My applications
    mine = dial(gateway, OWNER, "4")
    assert all(reference in mine for reference in references)


def test_one_phone_gets_ten_misses_then_no_more_lookups(gateway, references):
    rng = random.Random(7)
    phone = STRANGER
    before = gateway.extensions["lookups"].calls
    screens = [dial(gateway, phone, "3", random_reference(rng)) for _ in range(25)]
    assert gateway.extensions["lookups"].calls - before == 10
    assert all("No application has this reference" in s for s in screens[:10])
    assert all("Too many reference numbers were checked" in s for s in screens[10:])
    # the limit holds for SMS STATUS and Pay too, and for the real reference
    assert status_sms(gateway, phone, references[0])[0] == "status_too_many"
    assert "Too many reference numbers" in dial(gateway, phone, "5", "2", references[0])
    assert gateway.extensions["lookups"].calls - before == 10


def test_one_hop_carrying_many_references_makes_at_most_ten_lookups(gateway, references):
    """`*384*123*3*ref1*ref2*…#`: each key after a miss is another reference to look up."""
    rng = random.Random(56)
    before = gateway.extensions["lookups"].calls
    typed = [random_reference(rng).removeprefix("ECZ-") for _ in range(56)]  # 56 fit in 400 characters
    screen = dial(gateway, "+254711966666", "3", *typed)
    assert gateway.extensions["lookups"].calls - before == 10
    assert not any(word in screen for word in DETAILS)


def test_a_burst_of_lookups_sent_at_once_gets_no_more_than_a_patient_caller(gateway, references):
    rng = random.Random(99)
    guesses = [random_reference(rng) for _ in range(40)]
    before = gateway.extensions["lookups"].calls
    threads = [threading.Thread(target=dial, args=(gateway, "+254711977777", "3", g)) for g in guesses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert gateway.extensions["lookups"].calls - before == 10


def test_the_owner_tracking_their_own_application_is_never_held_back(gateway, references):
    before = gateway.extensions["lookups"].calls
    for _ in range(3):
        for reference in references:
            assert "Status: Submitted" in dial(gateway, OWNER, "3", reference)
    assert gateway.extensions["lookups"].calls - before == 9


def test_a_reference_guessed_from_many_phones_is_locked_for_them_all(gateway, references):
    target = references[0]
    phones = [f"+2547119880{n:02d}" for n in range(30)]
    for phone in phones:
        assert "Status:" not in dial(gateway, phone, "3", target)
    limit = gateway.extensions["settings"].lookup_max_misses_per_reference
    assert "Too many reference numbers" in dial(gateway, "+254711989999", "3", target)
    assert gateway.extensions["lookups"].calls <= limit + 1


def test_32_concurrent_copies_of_one_hop_are_replays_not_hops(settings, redis_client):
    """An aggregator retrying one hop: every copy gets the same screen, none "Too many requests",
    and the phone's hop count moves by one per distinct hop."""
    from app import create_app

    app = create_app(settings)  # the default limit: 30 hops per phone per minute
    app.extensions["database"].upgrade()
    phone = "+254711990001"
    first = Dialler(app.test_client(), phone=phone, session_id="retried-1")
    assert first.dial().startswith("CON Welcome")

    def copy(results: list[str]) -> None:
        results.append(Dialler(app.test_client(), phone=phone, session_id="retried-1").post("7"))

    results: list[str] = []
    threads = [threading.Thread(target=copy, args=(results,)) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 32 and len(set(results)) == 1, set(results)
    assert "Too many requests" not in results[0] and results[0].startswith("CON Help")
    assert int(redis_client.get(f"u:{{{phone}}}:r")) == 2  # the dial and one hop, not 33
    # the session carries on normally after the storm
    assert first.press("7").startswith("CON Help") and "Support line" in first.press("1")


def test_lookup_counters_name_no_reference(gateway, references, redis_client):
    dial(gateway, "+254711991111", "3", "ECZ-ABCDEF")
    keys = [key.decode() for key in redis_client.scan_iter("lookup:r:*")]
    assert keys and not any("ABCDEF" in key.upper() for key in keys)
    assert all(set(key.removeprefix("lookup:r:")) <= set(string.hexdigits) for key in keys)
