"""One holder at a time for a periodic job that several nodes run (the SMS sweep, say).

`lease(client, name, ttl_s)` is a context manager: it yields a `Lease` when this caller got the job,
or None when another holder has it (the caller then skips this round). The lease is a Redis key
holding a random token, set with NX and a TTL, and released only by the holder of that token: a
holder that outlived its TTL cannot delete a successor's lease. Choose a TTL well above the job's
longest run; a holder that dies keeps others out for at most the TTL.

Use the queue role's Redis (a single primary or Sentinel): a lease must live on one server.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import redis

_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_EXTEND = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
)


@dataclass(frozen=True)
class Lease:
    client: redis.Redis
    key: str
    token: str
    ttl_ms: int

    def extend(self) -> bool:
        """Push the expiry out by the TTL again; False when the lease was lost (stop working)."""
        return bool(self.client.eval(_EXTEND, 1, self.key, self.token, self.ttl_ms))

    def release(self) -> None:
        with contextlib.suppress(redis.RedisError):  # it expires on its own
            self.client.eval(_RELEASE, 1, self.key, self.token)


def key_for(name: str) -> str:
    return f"lease:{name}"


def try_lease(client: redis.Redis, name: str, ttl_s: float) -> Lease | None:
    """Take the lease `name` now, or None if someone holds it."""
    token = secrets.token_hex(16)
    ttl_ms = max(int(ttl_s * 1000), 1)
    if client.set(key_for(name), token, nx=True, px=ttl_ms):
        return Lease(client, key_for(name), token, ttl_ms)
    return None


@contextlib.contextmanager
def lease(client: redis.Redis, name: str, ttl_s: float) -> Iterator[Lease | None]:
    """Hold `name` for the block (None: someone else has it this round); released on exit."""
    held = try_lease(client, name, ttl_s)
    try:
        yield held
    finally:
        if held is not None:
            held.release()
