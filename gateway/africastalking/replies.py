"""Africa's Talking's USSD reply: `CON …` waits for input, `END …` closes (text/plain, HTTP 200)."""

from __future__ import annotations

from gateway.replies import polite


def render_at(body: str, final: bool) -> str:
    """The reply body for a screen. Never an empty CON: that would leave the citizen stuck."""
    if not body.strip():
        return "END " + polite("error")
    return ("END " if final else "CON ") + body
