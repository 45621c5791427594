"""Arkesel's reply: the request's ids echoed, the screen in `message`, and `continueSession`
(true waits for input, Africa's Talking's `CON`; false ends the session, `END`)."""

from __future__ import annotations

from gateway.replies import polite


def render(ids: tuple[str, str, str], body: str, final: bool) -> dict[str, str | bool]:
    """The reply showing `body`; `ids` are the request's (sessionID, userID, msisdn) as sent.
    Never an empty screen that waits for input: that would leave the citizen stuck."""
    if not body.strip():
        body, final = polite("error"), True
    session_id, user_id, msisdn = ids
    return {
        "sessionID": session_id,
        "userID": user_id,
        "msisdn": msisdn,
        "message": body,
        "continueSession": not final,
    }
