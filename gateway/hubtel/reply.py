"""Hubtel's reply: one JSON object with the six fields its API marks mandatory, plus `ClientState`.

`Type` `response` shows `Message` and waits for input (Africa's Talking's `CON`); `release` shows
it and ends the session (`END`). The session's state stays in Redis, so `ClientState` is always "".
"""

from __future__ import annotations

from gateway.replies import polite

LABEL_LEN = 40


def render(session_id: str, body: str, final: bool) -> dict[str, str]:
    """The reply to request `session_id` (as Hubtel sent it) showing `body`. Never an empty
    `response`: that would leave the citizen on a blank screen."""
    if not body.strip():
        body, final = polite("error"), True
    label = body.split("\n", 1)[0][:LABEL_LEN]
    return {
        "SessionId": session_id,
        "Type": "release" if final else "response",
        "Message": body,
        "Label": label,
        "DataType": "display" if final else "input",
        "FieldType": "text",
        "ClientState": "",
    }
