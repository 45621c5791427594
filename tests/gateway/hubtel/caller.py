"""A phone on Hubtel for tests: posts to the Hubtel callback through a Flask test client exactly as
Hubtel does (Initiation with the dialled string, one Response per key, `Sequence` counting up)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
HUBTEL_CODE = "*713#"
GHANA_PHONE = "+233200585542"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def fixture_names() -> list[str]:
    return sorted(path.stem for path in FIXTURES.glob("*.json"))


class HubtelCaller:
    """One caller's session. `dial`/`press` return the screen's text; `last` is the whole reply."""

    def __init__(
        self,
        client,
        phone: str = GHANA_PHONE,
        session_id: str = "3c796dac28174f739de4262d08409c51",
        service: str = HUBTEL_CODE,
        path: str = "/ussd/hubtel",
    ) -> None:
        self.client = client
        self.mobile = phone.lstrip("+")
        self.session_id = session_id
        self.service = service
        self.path = path
        self.sequence = 0
        self.last: dict[str, Any] = {}

    def post(self, kind: str, message: str, sequence: int | None = None) -> dict[str, Any]:
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        body = {
            "Type": kind,
            "Mobile": self.mobile,
            "SessionId": self.session_id,
            "ServiceCode": self.service.strip("*#"),
            "Message": message,
            "Operator": "mtn",
            "Sequence": sequence,
            "ClientState": "",
            "Platform": "USSD",
        }
        response = self.client.post(self.path, json=body)
        assert response.status_code == 200, response.data
        assert response.mimetype == "application/json"
        self.last = response.get_json()
        assert self.last["SessionId"] == self.session_id
        return self.last

    @property
    def final(self) -> bool:
        return self.last["Type"] == "release"

    def dial(self, *deep_keys: str) -> str:
        self.sequence = 0
        dialled = self.service[:-1] + "".join(f"*{key}" for key in deep_keys) + "#"
        return self.post("Initiation", dialled)["Message"]

    def press(self, key: str) -> str:
        return self.post("Response", key)["Message"]

    def release(self) -> dict[str, Any]:
        return self.post("Release", "")

    def timeout(self) -> dict[str, Any]:
        return self.post("Timeout", "")
