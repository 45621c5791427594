"""Login brute-force throttle: failure counters in Redis, per account and per client address.

After `max_failures` failed logins for one account (or `max_failures_per_ip` from one address)
within `window_s`, further attempts are refused without checking the password until the window ends.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis


@dataclass
class LoginThrottle:
    redis: redis.Redis
    max_failures: int = 5
    max_failures_per_ip: int = 20
    window_s: int = 900

    @staticmethod
    def _account_key(email: str) -> str:
        # Hashed so the key space does not list operators' addresses.
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:24]
        return f"console:login:fail:account:{digest}"

    @staticmethod
    def _ip_key(ip: str) -> str:
        return f"console:login:fail:ip:{ip}"

    def retry_after(self, email: str, ip: str) -> int:
        """Seconds until this account/address may try again; 0 when it may try now."""
        pipe = self.redis.pipeline()
        pipe.get(self._account_key(email))
        pipe.ttl(self._account_key(email))
        pipe.get(self._ip_key(ip))
        pipe.ttl(self._ip_key(ip))
        account, account_ttl, by_ip, ip_ttl = pipe.execute()
        waits = []
        if account is not None and int(account) >= self.max_failures:
            waits.append(max(int(account_ttl), 1))
        if by_ip is not None and int(by_ip) >= self.max_failures_per_ip:
            waits.append(max(int(ip_ttl), 1))
        return max(waits, default=0)

    def failed(self, email: str, ip: str) -> None:
        pipe = self.redis.pipeline()
        for key in (self._account_key(email), self._ip_key(ip)):
            # SET NX EX starts the window on the first failure (EXPIRE NX needs Redis 7).
            pipe.set(key, 0, ex=self.window_s, nx=True)
            pipe.incr(key)
        pipe.execute()

    def succeeded(self, email: str) -> None:
        # The address counter stays: one good password must not reset a spray across accounts.
        self.redis.delete(self._account_key(email))
