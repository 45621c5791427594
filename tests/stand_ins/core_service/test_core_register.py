"""The population register stand-in, and registration against it, written as the attacks it stops:
identity squatting (any phone registering any ID with any name), learning whether an ID is
registered without knowing the person, and learning the phone an ID is registered on."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from stand_ins.core_service import create_app
from stand_ins.core_service.models import Citizen, RegistrationAttempt
from stand_ins.core_service.population import (
    BORN_FROM,
    BORN_TO,
    FIRST_NAMES,
    LAST_NAMES,
    PopulationRegister,
    generate,
    name_key,
)
from stand_ins.core_service.testing import CoreServer, unregistered_people
from tests.stand_ins.core_service.conftest import PHONE, core_config, people, register, registration

OTHER_PHONE = "+254799000111"


def _citizens(app) -> int:
    with app.extensions["core"].session_factory() as db:
        return db.scalar(select(func.count()).select_from(Citizen))


def test_the_register_is_synthetic_deterministic_and_large_enough():
    first, again = list(generate()), list(generate())
    assert first == again
    assert len(first) >= 10_000
    assert len({p.national_id for p in first}) == len(first)
    assert all(len(p.national_id) == 8 and p.national_id.isdigit() for p in first)
    assert all(BORN_FROM <= p.date_of_birth <= BORN_TO for p in first)
    assert {p.first_name for p in first} <= set(FIRST_NAMES)
    assert {p.last_name for p in first} <= set(LAST_NAMES)
    assert list(generate(seed=1, size=50)) != first[:50]


def test_first_start_generates_the_register_quickly_in_its_own_private_file(tmp_path):
    url = f"sqlite:///{tmp_path}/own/register.db"
    started = time.perf_counter()
    app = create_app(core_config(tmp_path, REGISTER_URL=url))
    elapsed = time.perf_counter() - started
    try:
        assert app.extensions["core"].register.size() == 10_000
        assert elapsed < 2.0, elapsed
        path = tmp_path / "own" / "register.db"
        assert path.stat().st_mode & 0o777 == 0o600
        assert path != tmp_path / "core.db"  # apart from the core's records
    finally:
        app.extensions["core"].close()
    mtime = path.stat().st_mtime_ns
    PopulationRegister.open(url).close()  # complete: kept, not rebuilt
    assert path.stat().st_mtime_ns == mtime
    smaller = PopulationRegister.open(url, size=50)  # other settings: rebuilt
    assert smaller.size() == 50
    smaller.close()


@pytest.mark.parametrize(
    "spelling",
    [
        lambda name: name.upper(),
        lambda name: f"  {name.lower()} ",
        lambda name: name.replace(" ", "  "),
    ],
)
def test_names_match_whatever_their_case_and_spacing(client, person, spelling):
    body = registration(person) | {
        "first_name": spelling(person["first_name"]),
        "last_name": spelling(person["last_name"]),
    }
    response = register(client, body)
    assert response.status_code == 201, response.json
    # the record keeps the register's spelling, not the one typed
    assert (response.json["first_name"], response.json["last_name"]) == (
        person["first_name"],
        person["last_name"],
    )


def test_name_key_ignores_case_spaces_punctuation_and_accents():
    assert name_key("Ole Sankale") == name_key(" ole-sankale ") == name_key("OLE  SANKALE") == "olesankale"
    assert name_key("Wanjikũ") == name_key("wanjiku")
    assert name_key("Wanjiku") != name_key("Wanjiru")


def test_squatting_an_id_with_made_up_details_is_refused_with_one_answer(client, app, person):
    """Whatever is wrong - an ID not in the register, a wrong name, a wrong date - the answer is
    the same bytes, so it cannot be used to find out which detail to fix."""
    attempts = {
        "made-up person": registration(person) | {"national_id": _absent_id(app), "first_name": "Wanjiku"},
        "wrong first name": registration(person) | {"first_name": _other_name(person["first_name"])},
        "wrong last name": registration(person) | {"last_name": _other_name(person["last_name"])},
        "wrong date of birth": registration(person) | {"date_of_birth": _other_date(person)},
    }
    answers = {what: register(client, body) for what, body in attempts.items()}
    for what, answer in answers.items():
        assert answer.status_code == 422, what
        assert answer.json == {
            "error": "identity_mismatch",
            "message": "The details do not match the national register.",
        }, what
    assert len({answer.get_data() for answer in answers.values()}) == 1
    assert _citizens(app) == 0


def test_an_id_registered_on_another_phone_is_refused_without_naming_that_phone(client, app, person):
    assert register(client, registration(person, phone=OTHER_PHONE)).status_code == 201
    response = register(client, registration(person, phone=PHONE))
    assert response.status_code == 409
    assert response.json == {
        "error": "already_registered",
        "message": "This national ID is already registered. "
        "The citizen should visit a Huduma Centre with their ID.",
        "field": "national_id",
    }
    raw = response.get_data(as_text=True)
    assert OTHER_PHONE not in raw and OTHER_PHONE[-4:] not in raw
    assert _citizens(app) == 1


def test_whether_an_id_is_registered_is_told_only_to_someone_who_knows_the_person(client, person):
    assert register(client, registration(person, phone=OTHER_PHONE)).status_code == 201
    guess = registration(person) | {"first_name": _other_name(person["first_name"])}
    response = register(client, guess)
    assert (response.status_code, response.json["error"]) == (422, "identity_mismatch")


def test_two_phones_registering_one_person_at_once_get_one_citizen_and_one_refusal(tmp_path):
    with CoreServer(core_config(tmp_path)) as core:
        person = unregistered_people(core.url)[0]
        phones = [f"+2547990001{i:02d}" for i in range(8)]
        barrier = threading.Barrier(len(phones))
        answers: list[int] = []

        def attempt(phone: str) -> None:
            import requests

            barrier.wait()
            response = requests.post(
                f"{core.url}/citizens", json=registration(person, phone=phone), timeout=10
            )
            answers.append(response.status_code)

        threads = [threading.Thread(target=attempt, args=(phone,)) for phone in phones]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers) == [201] + [409] * (len(phones) - 1)


def test_dev_people_lists_unregistered_people(client):
    listed = people(client, 20)
    assert [sorted(p) for p in listed] == [["date_of_birth", "first_name", "last_name", "national_id"]] * 20
    assert all(date.fromisoformat(p["date_of_birth"]) for p in listed)
    assert len({p["national_id"] for p in listed}) == 20
    assert register(client, registration(listed[0])).status_code == 201
    again = client.get("/dev/people", query_string={"unregistered": 1, "n": 100}).json
    assert listed[0]["national_id"] not in {p["national_id"] for p in again}


@pytest.mark.parametrize("query", [{"n": 0}, {"n": 101}, {"n": "x"}, {"unregistered": "yes"}])
def test_dev_people_refuses_bad_queries(client, query):
    response = client.get("/dev/people", query_string=query)
    assert (response.status_code, response.json["error"]) == (400, "invalid_request")


def _absent_id(app) -> str:
    register = app.extensions["core"].register
    candidate = 10_000_000
    while register.find(str(candidate)) is not None:
        candidate += 1
    return str(candidate)


def _other_name(name: str) -> str:
    return next(n for n in FIRST_NAMES + LAST_NAMES if name_key(n) != name_key(name))


def _other_date(person: dict[str, str]) -> str:
    born = date.fromisoformat(person["date_of_birth"])
    return born.replace(day=1 if born.day != 1 else 2).isoformat()


def _wrong_dates(person: dict[str, str], count: int) -> list[str]:
    born = date.fromisoformat(person["date_of_birth"])
    return [(born - timedelta(days=1 + n)).isoformat() for n in range(count)]


def test_a_date_of_birth_cannot_be_found_by_trying_from_one_phone(client, app, person):
    answers = [
        register(client, registration(person) | {"date_of_birth": d}).status_code
        for d in _wrong_dates(person, 6)
    ]
    assert answers == [422] * 5 + [429]
    refused = register(client, registration(person))  # even the right date, from this phone, today
    assert (refused.status_code, refused.json["error"]) == (429, "too_many_attempts")
    assert 23 * 3600 < refused.json["retry_after"] <= 24 * 3600
    assert refused.headers["Retry-After"] == str(refused.json["retry_after"])
    assert _citizens(app) == 0


def test_a_date_of_birth_cannot_be_found_by_trying_from_many_phones(client, app, person):
    wrong = _wrong_dates(person, 10)
    for n, born in enumerate(wrong):
        body = registration(person, phone=f"+2547980000{n:02d}") | {"date_of_birth": born}
        assert register(client, body).status_code == 422
    eleventh = register(client, registration(person, phone="+254798000099") | {"date_of_birth": "1950-01-01"})
    assert (eleventh.status_code, eleventh.json["error"]) == (429, "too_many_attempts")
    # other people are not affected: the limit is per ID and per phone
    assert register(client, registration(people(client)[0], phone="+254798000100")).status_code == 201


class HeldRegister:
    """The register, but each lookup waits until every guess of the burst has been recorded: the
    widest window between counting a guess and answering it."""

    def __init__(self, register, session_factory, subject: str, burst: int) -> None:
        self.register, self.session_factory = register, session_factory
        self.subject, self.burst = subject, burst

    def match(self, *args):
        deadline = time.monotonic() + 5
        while self._recorded() < self.burst and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.register.match(*args)

    def _recorded(self) -> int:
        with self.session_factory() as db:
            query = select(func.count()).where(RegistrationAttempt.subject == self.subject)
            return db.scalar(query)

    def __getattr__(self, name):
        return getattr(self.register, name)


def test_a_burst_of_guesses_gets_no_more_tries_than_a_patient_caller(tmp_path):
    import requests

    with CoreServer(core_config(tmp_path)) as core:
        person = unregistered_people(core.url)[0]
        guesses = [registration(person) | {"date_of_birth": d} for d in _wrong_dates(person, 20)]
        state = core.flask_app.extensions["core"]
        state.register = HeldRegister(state.register, state.session_factory, f"phone:{PHONE}", len(guesses))
        barrier = threading.Barrier(len(guesses))
        answers: list[int] = []

        def guess(body: dict[str, str]) -> None:
            barrier.wait()
            answers.append(requests.post(f"{core.url}/citizens", json=body, timeout=30).status_code)

        threads = [threading.Thread(target=guess, args=(body,)) for body in guesses]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # at most the five a patient caller gets (fewer when guesses are counted before others finish)
        assert set(answers) <= {422, 429} and len(answers) == 20
        assert 1 <= answers.count(422) <= 5


def test_mistakes_then_the_right_details_register(client, person):
    for born in _wrong_dates(person, 4):
        assert register(client, registration(person) | {"date_of_birth": born}).status_code == 422
    assert register(client, registration(person)).status_code == 201
