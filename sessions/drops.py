"""Sessions to look at again once they have gone quiet: a dropped call leaves no request behind,
so a session mid-application is watched until it is answered again or found silent.

One Redis sorted set, `ussd:drops`: member `<phone>|<session id>`, score the time (Unix seconds)
after which the session counts as dropped if no hop came meanwhile. Every command touches that one
key, so it works the same on Redis Cluster. `claim_due` is safe on any number of nodes at once: a
member is handed to the one caller whose ZREM removed it.
"""

from __future__ import annotations

import time

import redis

DROPS_KEY = "ussd:drops"


class DropWatch:
    """The watch list. Thread-safe; share one per process."""

    def __init__(self, client: redis.Redis, key: str = DROPS_KEY) -> None:
        self.redis = client
        self.key = key

    @staticmethod
    def _member(phone: str, session_id: str) -> str:
        return f"{phone}|{session_id}"

    def watch(self, phone: str, session_id: str, due_at: float) -> None:
        """Look at this session again at `due_at` (a later call moves the time)."""
        self.redis.zadd(self.key, {self._member(phone, session_id): due_at})

    def claim_due(self, now: float | None = None, limit: int = 100) -> list[tuple[str, str]]:
        """Up to `limit` sessions due by `now`, each removed from the list and returned to exactly
        one caller, oldest first: (phone, session id)."""
        due = self.redis.zrangebyscore(self.key, "-inf", now if now is not None else time.time(), 0, limit)
        if not due:
            return []
        with self.redis.pipeline(transaction=False) as pipe:
            for member in due:
                pipe.zrem(self.key, member)
            removed = pipe.execute()
        claimed = []
        for member, count in zip(due, removed, strict=True):
            if count:
                text = member.decode() if isinstance(member, bytes) else member
                phone, _, session_id = text.partition("|")
                claimed.append((phone, session_id))
        return claimed

    def pending(self) -> int:
        return int(self.redis.zcard(self.key))
