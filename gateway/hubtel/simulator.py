"""A phone on Hubtel, for `flask --app app ussd dial … --aggregator hubtel`: it posts to the
callback over HTTP exactly as Hubtel does (Initiation with the dialled string, then one Response
per key with `Sequence` counting up, and a Release when the caller hangs up)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import requests


@dataclass(frozen=True)
class SimulatedScreen:
    """What the phone shows after one request, and how it came back."""

    text: str
    final: bool
    status: int
    kind: str  # Hubtel's reply Type


class HubtelPhone:
    """One session of one caller. `service_code` is the code Hubtel sends in `ServiceCode`
    (`*713#` is sent as `713`)."""

    def __init__(
        self, endpoint: str, phone: str, service_code: str, operator: str = "mtn", timeout_s: float = 15
    ) -> None:
        self.endpoint = endpoint
        self.mobile = phone.lstrip("+")
        self.service_code = service_code.strip("*#")
        self.operator = operator
        self.timeout_s = timeout_s
        self.session_id = uuid.uuid4().hex
        self.sequence = 0
        self.client_state = ""

    def _post(self, kind: str, message: str) -> SimulatedScreen:
        self.sequence += 1
        body = {
            "Type": kind,
            "Mobile": self.mobile,
            "SessionId": self.session_id,
            "ServiceCode": self.service_code,
            "Message": message,
            "Operator": self.operator,
            "Sequence": self.sequence,
            "ClientState": self.client_state,
            "Platform": "USSD",
        }
        response = requests.post(self.endpoint, json=body, timeout=self.timeout_s)
        try:
            reply = response.json()
        except ValueError:
            return SimulatedScreen(response.text, True, response.status_code, "not JSON")
        if not isinstance(reply, dict):
            return SimulatedScreen(response.text, True, response.status_code, "not a JSON object")
        self.client_state = str(reply.get("ClientState") or "")
        kind_back = str(reply.get("Type", ""))
        final = kind_back.lower() != "response"
        return SimulatedScreen(str(reply.get("Message", "")), final, response.status_code, kind_back)

    def dial(self, dial_string: str) -> SimulatedScreen:
        return self._post("Initiation", dial_string)

    def press(self, key: str) -> SimulatedScreen:
        return self._post("Response", key)

    def hang_up(self) -> SimulatedScreen:
        return self._post("Release", "")
