"""Limits on looking applications up by reference (USSD Track and Pay, SMS `STATUS`), so nobody can
enumerate references: Redis counters per phone, per reference and for everyone.

Every lookup is counted *before* it is made, as a miss; a lookup that finds the caller's own
application gives its count back (`found`). So a burst of lookups sent all at once gets no more
tries than a patient caller, and a citizen who tracks their own applications is never held back.

- misses of one phone, `u:{<phone>}:g` (the phone's hash tag, like its session keys):
  `max_misses_per_phone` per `window_s`;
- misses on one reference, `lookup:r:<keyed name of the reference>`: `max_misses_per_reference`
  per `window_s`;
- lookups of everyone, `lookup:all`: `max_per_minute` per minute.

The reference is named by a keyed hash (`common.keys.counter_name`), so Redis lists no reference.
Past the per-reference limit a reference cannot be looked up by anyone, its owner included, until
the window ends: someone who knows a reference can hold up its tracking for an hour (the owner
still sees it under "My applications"). That is the price of not letting many phones share out
the guessing.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from common.keys import counter_name

# Give a count back only while its window lasts: a DECR after expiry would leave a key without TTL.
_GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
"""


def normalise_reference(reference: str) -> str:
    """The form a reference is counted under: `ecz 7k3q9p` and `ECZ-7K3Q9P` are one reference."""
    return "".join(ch for ch in reference.upper() if ch.isalnum())


@dataclass
class LookupLimits:
    """Shared by every hop and SMS of a process; thread-safe (every count is one Redis command)."""

    redis: redis.Redis
    key: bytes
    max_misses_per_phone: int = 10
    max_misses_per_reference: int = 20
    window_s: int = 3600
    max_per_minute: int = 600

    def __post_init__(self) -> None:
        self._give_back = self.redis.register_script(_GIVE_BACK)

    def _phone_key(self, phone: str) -> str:
        return f"u:{{{phone}}}:g"

    def _reference_key(self, reference: str) -> str:
        return f"lookup:r:{counter_name(self.key, normalise_reference(reference))}"

    def _count(self, key: str, ttl_s: int) -> int:
        pipe = self.redis.pipeline(transaction=False)
        # SET NX EX starts the window on the first count (EXPIRE NX needs Redis 7).
        pipe.set(key, 0, ex=ttl_s, nx=True)
        pipe.incr(key)
        return int(pipe.execute()[1])

    def admit(self, phone: str, reference: str) -> bool:
        """Count this lookup (as a miss until `found`) and say whether it may be made."""
        if self._count(self._phone_key(phone), self.window_s) > self.max_misses_per_phone:
            return False
        if self._count(self._reference_key(reference), self.window_s) > self.max_misses_per_reference:
            return False
        return self._count("lookup:all", 60) <= self.max_per_minute

    def found(self, phone: str, reference: str) -> None:
        """The lookup found the caller's own application: it was no miss."""
        for key in (self._phone_key(phone), self._reference_key(reference)):
            self._give_back(keys=[key])
