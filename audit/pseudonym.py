"""Keyed pseudonyms for phone numbers: the trail and analytics can count and correlate citizens
without holding a number anyone could call.

The key is AUDIT_PSEUDONYM_KEY when set, else derived from SECRET_KEY (common/keys.py). Changing
either changes every pseudonym: analytics then sees new citizens."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache


class Pseudonymiser:
    """`HMAC-SHA256(key, E.164 phone)` as hex. Cached: a citizen dials again and again."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.of = lru_cache(maxsize=65536)(self._compute)

    def _compute(self, phone: str) -> str:
        return hmac.new(self._key, phone.encode("utf-8"), hashlib.sha256).hexdigest()
