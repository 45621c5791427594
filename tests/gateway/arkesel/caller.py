"""A phone on Arkesel for tests: posts to the Arkesel callback through a Flask test client exactly
as Arkesel does (`newSession` true with the dialled string, then one request per key), a few
seconds of the replay clock apart, as a citizen on a handset is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
ARKESEL_CODE = "*920*100#"
GHANA_PHONE = "+233241234567"
THINK_S = 5.0  # between two key presses on a handset: reading, typing, the network both ways


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def fixture_names() -> list[str]:
    return sorted(path.stem for path in FIXTURES.glob("*.json"))


class SteppingClock:
    """Wall time for the replay keys that moves only when told to."""

    def __init__(self, now: float = 1_767_268_800.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ArkeselCaller:
    """One caller's session. `dial`/`press` return the screen's text; `last` is the whole reply.
    With a `clock`, each request comes `think_s` after the one before."""

    def __init__(
        self,
        client,
        phone: str = GHANA_PHONE,
        session_id: str = "K3H7Q00P912TX",
        service: str = ARKESEL_CODE,
        path: str = "/ussd/arkesel",
        clock: SteppingClock | None = None,
        think_s: float = THINK_S,
    ) -> None:
        self.client = client
        self.msisdn = phone.lstrip("+")
        self.session_id = session_id
        self.service = service
        self.path = path
        self.clock = clock
        self.think_s = think_s
        self.last: dict[str, Any] = {}

    def post(self, new_session: bool, user_data: str | None) -> dict[str, Any]:
        if self.clock is not None:
            self.clock.advance(self.think_s)
        body = {
            "sessionID": self.session_id,
            "userID": "user123",
            "newSession": new_session,
            "msisdn": self.msisdn,
            "userData": user_data,
            "network": "MTN",
        }
        response = self.client.post(self.path, json=body)
        assert response.status_code == 200, response.data
        assert response.mimetype == "application/json"
        self.last = response.get_json()
        assert (self.last["sessionID"], self.last["userID"], self.last["msisdn"]) == (
            self.session_id,
            "user123",
            self.msisdn,
        )
        return self.last

    @property
    def final(self) -> bool:
        return self.last["continueSession"] is False

    def dial(self, *deep_keys: str) -> str:
        dialled = self.service[:-1] + "".join(f"*{key}" for key in deep_keys) + "#"
        return self.post(True, dialled)["message"]

    def press(self, key: str) -> str:
        return self.post(False, key)["message"]
