"""The PIN lockout, attacked: bursts of wrong PINs fired at once over real HTTP must be counted one
by one, the right PIN must not pass once three wrong ones are counted, and the count belongs to the
citizen whatever endpoint or session the PINs come through."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from argon2 import PasswordHasher, profiles

from stand_ins.core_service.testing import CoreProcess, CoreServer, unregistered_people
from tests.stand_ins.core_service.conftest import GOOD_CONDUCT, core_config, registration

PIN = "4826"
WRONG = "1593"


def core_env(folder: Path) -> dict[str, str]:
    """The core as its own process: granian with 16 threads, as `make run` serves it."""
    return {
        "VAR_DIR": str(folder),
        "CORE_DATABASE_URL": f"sqlite:///{folder}/core.db",
        "CORE_REGISTER_URL": f"sqlite:///{folder.parent}/core-register.db",
        "CORE_ID_HASH_KEY": "test-id-hash-key-for-the-pin-burst",
        # cheap hashing: twelve concurrent default argon2 hashes would need 768 MiB
        "CORE_PIN_HASH_PROFILE": "cheapest",
        "GATEWAY_WEBHOOK_URL": "http://127.0.0.1:9/unused",
        "CORE_TICK_S": "5",
    }


@pytest.fixture(scope="module")
def core_process(tmp_path_factory) -> Iterator[CoreProcess]:
    folder = tmp_path_factory.mktemp("core")
    with CoreProcess(core_env(folder), folder / "core.log") as core:
        yield core


def _new_citizen(core_url: str, phone: str) -> None:
    person = unregistered_people(core_url)[0]
    response = requests.post(f"{core_url}/citizens", json=registration(person, phone, PIN), timeout=10)
    assert response.status_code == 201, response.text


def _verify(core_url: str, phone: str, pin: str) -> requests.Response:
    return requests.post(f"{core_url}/citizens/verify-pin", json={"phone": phone, "pin": pin}, timeout=30)


def _apply(core_url: str, phone: str, pin: str, key: str) -> requests.Response:
    return requests.post(
        f"{core_url}/applications",
        json={"phone": phone, "pin": pin} | GOOD_CONDUCT,
        headers={"Idempotency-Key": key},
        timeout=30,
    )


def _burst(calls: list) -> list[requests.Response]:
    """Fire every call at the same moment from its own thread; the answers in call order."""
    barrier = threading.Barrier(len(calls))

    def fire(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(fire, calls))


def _check_counted_one_by_one(wrong: list[requests.Response], right: requests.Response) -> None:
    """Each wrong PIN either counted (401 with 2 then 1 tries left, the third locking: 423) or met
    a locked account (423). A right PIN that passed reset the count once, so at most two of each
    `attempts_left` value can be seen; without it, at most one."""
    assert {r.status_code for r in wrong} <= {401, 423}
    left = Counter(r.json()["attempts_left"] for r in wrong if r.status_code == 401)
    epochs = 2 if right.status_code in (200, 201) else 1
    assert left[2] <= epochs and left[1] <= epochs, left
    assert set(left) <= {1, 2}
    assert sum(r.status_code == 423 for r in wrong) >= len(wrong) - 2 * epochs


@pytest.mark.parametrize("round_", range(3))
def test_a_burst_of_wrong_pins_and_the_right_one_ends_locked(core_process, round_):
    url, phone = core_process.url, f"+25471100{round_:04d}"
    _new_citizen(url, phone)
    calls = [lambda: _verify(url, phone, WRONG) for _ in range(11)]
    calls.insert(5, lambda: _verify(url, phone, PIN))
    answers = _burst(calls)
    right = answers.pop(5)
    assert right.status_code in (200, 423), right.text
    _check_counted_one_by_one(answers, right)
    after = _verify(url, phone, PIN)
    assert after.status_code == 423 and after.json()["error"] == "account_locked"


def test_a_burst_of_twenty_wrong_pins_counts_each_one(core_process):
    url, phone = core_process.url, "+254711200000"
    _new_citizen(url, phone)
    answers = _burst([lambda: _verify(url, phone, WRONG) for _ in range(20)])
    assert sorted(r.json().get("attempts_left", 0) for r in answers if r.status_code == 401) == [1, 2]
    assert sum(r.status_code == 423 for r in answers) == 18


def test_parallel_applications_with_wrong_pins_lock_the_account(core_process):
    """As parallel USSD sessions would: each submission its own idempotency key."""
    url, phone = core_process.url, "+254711300000"
    _new_citizen(url, phone)
    calls = [lambda i=i: _apply(url, phone, WRONG, f"burst-session-{i:04d}") for i in range(11)]
    calls.append(lambda: _apply(url, phone, PIN, "burst-session-right"))
    answers = _burst(calls)
    right = answers.pop()
    assert right.status_code in (201, 423), right.text
    _check_counted_one_by_one(answers, right)
    assert _verify(url, phone, PIN).status_code == 423
    listed = requests.get(f"{url}/applications", params={"phone": phone}, timeout=10).json()
    assert listed["total"] == (1 if right.status_code == 201 else 0)


class GatedHasher(PasswordHasher):
    """Holds the check of the right PIN until the test opens the gate: the widest possible window
    between "not locked" being read and the right PIN's answer."""

    def __init__(self, right_pin: str) -> None:
        params = profiles.CHEAPEST
        super().__init__(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost,
            parallelism=params.parallelism,
            hash_len=params.hash_len,
            salt_len=params.salt_len,
        )
        self.right_pin = right_pin
        self.checking = threading.Event()
        self.gate = threading.Event()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002 - argon2's names
        if password == self.right_pin:
            self.checking.set()
            assert self.gate.wait(10)
        return super().verify(hash, password)


@pytest.fixture
def gated_core(tmp_path) -> Iterator[tuple[CoreServer, GatedHasher]]:
    with CoreServer(core_config(tmp_path)) as core:
        hasher = GatedHasher(PIN)
        core.flask_app.extensions["core"].hasher = hasher
        yield core, hasher


@pytest.mark.parametrize("endpoint", ["verify-pin", "applications"])
def test_the_right_pin_does_not_pass_once_three_wrong_ones_are_counted(gated_core, endpoint):
    core, hasher = gated_core
    phone = "+254711400000"
    _new_citizen(core.url, phone)
    with ThreadPoolExecutor(1) as pool:
        if endpoint == "verify-pin":
            pending = pool.submit(_verify, core.url, phone, PIN)
        else:
            pending = pool.submit(_apply, core.url, phone, PIN, "gated-right-pin")
        assert hasher.checking.wait(10)  # it read "not locked" and is checking the PIN now
        answers = [_verify(core.url, phone, WRONG).status_code for _ in range(3)]
        assert answers == [401, 401, 423]
        hasher.gate.set()
        right = pending.result(timeout=30)
    assert (right.status_code, right.json()["error"]) == (423, "account_locked")
    listed = requests.get(f"{core.url}/applications", params={"phone": phone}, timeout=10).json()
    assert listed["total"] == 0


def test_wrong_pins_add_up_across_endpoints_and_sessions(tmp_path):
    with CoreServer(core_config(tmp_path)) as core:
        phone = "+254711500000"
        _new_citizen(core.url, phone)
        first = _verify(core.url, phone, WRONG)
        second = _apply(core.url, phone, WRONG, "session-one-0001")
        third = _apply(core.url, phone, WRONG, "session-two-0002")
        assert [first.json()["attempts_left"], second.json()["attempts_left"]] == [2, 1]
        assert third.status_code == 423
        assert _verify(core.url, phone, PIN).status_code == 423
        assert _apply(core.url, phone, PIN, "session-three-03").status_code == 423
