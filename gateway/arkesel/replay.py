"""Replay keys for Arkesel, which numbers nothing: a retried request is byte for byte the same
request as a citizen typing the same key again, so only time tells them apart.

A request whose input equals the last one answered, arriving within the window after it, is a
retry (stored reply, nothing runs). The same input later is a new key press: a PIN and its
confirmation, or `98` twice to page a list, are typed seconds apart on a handset, while a transport
retry comes within a second or two. Inside the window the same input twice is taken as one hop.

Keys are a keyed digest of the input (never the input: it can be a PIN) and a time slot a quarter
of the window wide; a request also matches the four slots before its own, so a retry within the
window always matches and one later than 1.25 windows never does.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

SLOTS = 4
_DIGEST_SIZE = 6


class SameInputReplay:
    """Derives a request's replay key and aliases; `window_s` 0 turns replay detection off.
    `clock` is wall time (every gateway process must agree on it), swappable for tests."""

    def __init__(self, key: bytes, window_s: float, clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.window_s = window_s
        self.clock = clock

    def keys(self, new_session: bool, user_data: str) -> tuple[str, tuple[str, ...]]:
        """(replay key, aliases) of one request."""
        if self.window_s <= 0:
            return secrets.token_hex(_DIGEST_SIZE), ()
        marked = ("n:" if new_session else "c:") + user_data
        digest = hashlib.blake2b(marked.encode("utf-8"), key=self.key, digest_size=_DIGEST_SIZE).hexdigest()
        slot = int(self.clock() // (self.window_s / SLOTS))
        return f"{digest}.{slot}", tuple(f"{digest}.{slot - back}" for back in range(1, SLOTS + 1))
