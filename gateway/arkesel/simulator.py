"""A phone on Arkesel, for `flask --app app ussd dial … --aggregator arkesel`: it posts to the
callback over HTTP exactly as Arkesel does (`newSession` true with the dialled string, then one
request per key); hanging up sends nothing, as on Arkesel."""

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
    kind: str  # "continue" or "end", from continueSession


class ArkeselPhone:
    """One session of one caller."""

    def __init__(self, endpoint: str, phone: str, network: str = "MTN", timeout_s: float = 15) -> None:
        self.endpoint = endpoint
        self.msisdn = phone.lstrip("+")
        self.network = network
        self.timeout_s = timeout_s
        self.session_id = uuid.uuid4().hex[:13].upper()
        self.user_id = "simulator"

    def _post(self, new_session: bool, user_data: str) -> SimulatedScreen:
        body = {
            "sessionID": self.session_id,
            "userID": self.user_id,
            "newSession": new_session,
            "msisdn": self.msisdn,
            "userData": user_data,
            "network": self.network,
        }
        response = requests.post(self.endpoint, json=body, timeout=self.timeout_s)
        try:
            reply = response.json()
        except ValueError:
            return SimulatedScreen(response.text, True, response.status_code, "not JSON")
        if not isinstance(reply, dict):
            return SimulatedScreen(response.text, True, response.status_code, "not a JSON object")
        final = reply.get("continueSession") is not True
        kind = "end" if final else "continue"
        return SimulatedScreen(str(reply.get("message", "")), final, response.status_code, kind)

    def dial(self, dial_string: str) -> SimulatedScreen:
        return self._post(True, dial_string)

    def press(self, key: str) -> SimulatedScreen:
        return self._post(False, key)

    def hang_up(self) -> None:
        return None
