"""The SMS a phone would receive, read from the local Africa's Talking sandbox (`GET
/sandbox/messages`), for the terminal simulator. Optional: with no sandbox running it stays quiet."""

from __future__ import annotations

import os
import textwrap
import time

import requests


def sandbox_url() -> str:
    """`AT_SANDBOX_URL`, else the sandbox `make run` starts on `AT_SANDBOX_PORT` (8025)."""
    configured = os.environ.get("AT_SANDBOX_URL", "").strip()
    return (configured or f"http://127.0.0.1:{os.environ.get('AT_SANDBOX_PORT', '8025')}").rstrip("/")


class PhoneInbox:
    """New messages for one phone since the inbox was opened. `available` is False (and every call
    returns nothing) when the sandbox did not answer at the start."""

    def __init__(self, phone: str, base_url: str | None = None, timeout_s: float = 1.0) -> None:
        self.phone = phone
        self.base_url = base_url or sandbox_url()
        self.timeout_s = timeout_s
        self.last_seq = 0
        self.available = True
        try:
            existing = self._fetch(None)
        except (requests.RequestException, ValueError):
            self.available = False
            return
        self.last_seq = max((int(m.get("seq", 0)) for m in existing), default=0)

    def _fetch(self, since: int | None) -> list[dict]:
        params = {"phone": self.phone}
        if since:
            params["since"] = str(since)
        answer = requests.get(f"{self.base_url}/sandbox/messages", params=params, timeout=self.timeout_s)
        answer.raise_for_status()
        return answer.json()

    def new_messages(self) -> list[dict]:
        """Messages that arrived since the last call, oldest first."""
        if not self.available:
            return []
        try:
            messages = self._fetch(self.last_seq)
        except (requests.RequestException, ValueError):
            return []
        messages = [m for m in messages if int(m.get("seq", 0)) > self.last_seq]
        if messages:
            self.last_seq = max(int(m["seq"]) for m in messages)
        return messages

    def wait_for_messages(self, seconds: float, quiet_after_s: float = 1.0) -> list[dict]:
        """Poll for up to `seconds`, stopping `quiet_after_s` after the last new message."""
        found: list[dict] = []
        deadline = time.monotonic() + seconds
        last_new = None
        while self.available and time.monotonic() < deadline:
            batch = self.new_messages()
            if batch:
                found += batch
                last_new = time.monotonic()
            elif last_new is not None and time.monotonic() - last_new >= quiet_after_s:
                break
            time.sleep(0.25)
        return found


def sms_box(message: dict, width: int = 40) -> str:
    """One received SMS drawn as a box for the terminal."""
    title = f" SMS from {message.get('from') or 'eCitizen'} "
    lines = ["╔" + title.center(width, "═") + "╗"]
    for paragraph in str(message.get("message", "")).split("\n"):
        for line in textwrap.wrap(paragraph, width - 2) or [""]:
            lines.append("║ " + line.ljust(width - 2) + " ║")
    footer = f" {message.get('segments', '?')} segment(s) · {message.get('encoding', '')} "
    lines.append("╚" + footer.center(width, "═") + "╝")
    return "\n".join(lines)
