"""Login brute-force throttle: Redis counters per (account, client address) and per address.

Each attempt is counted *before* its password is checked, in one Lua script (count, then allow),
so a burst of attempts sent all at once gets no more tries than a patient attacker. A failure
stays counted; a success gives its counts back.

The counters are per account **and** address, not per account alone: someone who knows an
operator's email can lock that email out from their own address only, never for the operator at
their desk. Behind a load balancer the address is the client's only when TRUSTED_PROXY_COUNT is
set (app.py wraps the app in ProxyFix); otherwise every login shares the balancer's address.
Keys share the address's hash tag (one Redis Cluster slot per script) and name the account by a
keyed hash, so the key space lists no operator's email:
  console:login:{<address>}:a:<keyed name>   failures of one account from one address
  console:login:{<address>}:ip               failures from one address, any account
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from common.keys import counter_name

# KEYS: account-and-address counter, address counter. ARGV: max per pair, max per address, window s.
# Answers 0 when the attempt may go ahead (and counts it), else the seconds to wait.
_ATTEMPT = """
local pair = tonumber(redis.call('GET', KEYS[1]) or '0')
local address = tonumber(redis.call('GET', KEYS[2]) or '0')
if pair >= tonumber(ARGV[1]) then return math.max(redis.call('TTL', KEYS[1]), 1) end
if address >= tonumber(ARGV[2]) then return math.max(redis.call('TTL', KEYS[2]), 1) end
for i = 1, 2 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[3]) end
end
return 0
"""

# KEYS: account-and-address counter, address counter. ARGV: "forget" to clear the account's count.
_GIVE_BACK = """
for i = 1, 2 do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
if ARGV[1] == 'forget' then redis.call('DEL', KEYS[1]) end
return 1
"""


@dataclass
class LoginThrottle:
    redis: redis.Redis
    key: bytes  # names accounts in Redis keys (common.keys.GatewayKeys.counters)
    max_failures: int = 5
    max_failures_per_ip: int = 20
    window_s: int = 900
    _attempt: object = field(init=False, repr=False)
    _give_back: object = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._attempt = self.redis.register_script(_ATTEMPT)
        self._give_back = self.redis.register_script(_GIVE_BACK)

    def _keys(self, email: str, ip: str) -> list[str]:
        account = counter_name(self.key, email.strip().lower())
        return [f"console:login:{{{ip}}}:a:{account}", f"console:login:{{{ip}}}:ip"]

    def attempt(self, email: str, ip: str) -> int:
        """Count one login attempt of `email` from `ip`: 0 when it may be checked now, else the
        seconds until this account may try again from this address (nothing counted then)."""
        return int(
            self._attempt(
                keys=self._keys(email, ip), args=[self.max_failures, self.max_failures_per_ip, self.window_s]
            )
        )

    def succeeded(self, email: str, ip: str) -> None:
        """The password was right: this attempt was no failure, and the account's count restarts."""
        self._give_back(keys=self._keys(email, ip), args=["forget"])

    def not_checked(self, email: str, ip: str) -> None:
        """The attempt never reached a password check (the server was busy): give its counts back."""
        self._give_back(keys=self._keys(email, ip), args=["keep"])
