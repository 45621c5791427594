"""Operators' passwords: the policy a new password must meet, and argon2 work kept off the hop path.

Policy (`password_problem`): 10 to 256 characters, at least 5 different ones, not one of the 10,000
most common passwords (common_passwords.txt, bundled; also with digits or symbols tacked on the
end, `password2024!`), and not containing the operator's email name.

Hashing (`PasswordWork`): argon2id with OWASP's recommended cost (19 MiB, 2 passes, one lane:
about 70 ms of one core here). Run on the request threads, ten logins at once took every thread of a
gateway process and citizens' hops waited behind them (3.6 s). So each process hashes on its own
small pool (`workers` threads at the lowest CPU priority, nice 19: a hop's thread always wins the
core), with at most `queue` more logins waiting; any further login is told at once to try again in
a moment (`PasswordsBusy`) instead of holding a request thread. With the defaults (1 + 1) at most
two of a process's request threads ever wait on a hash.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP Password Storage Cheat Sheet's first argon2id choice; one lane, so argon2's own threads
# never compete with the hops for the cores. Older hashes are upgraded at the next login.
OWASP_ARGON2ID = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1}
MIN_LENGTH = 10
MAX_LENGTH = 256
MIN_DISTINCT = 5
_COMMON_FILE = Path(__file__).with_name("common_passwords.txt")
# Digits and symbols people add to a common word to pass a length rule.
_DECORATION = "0123456789!@#$%^&*()-_=+.,?~ "


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list, lower-cased (read once per process)."""
    lines = _COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def password_problem(password: str, email: str = "") -> str | None:
    """Why `password` may not be used by the operator with `email`, or None when it may."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    if len(set(password)) < MIN_DISTINCT:
        return f"a password needs at least {MIN_DISTINCT} different characters"
    lowered = password.lower()
    common = common_passwords()
    if lowered in common or lowered.strip(_DECORATION) in common:
        return "this password is one of the most common ones; choose another"
    name = email.split("@", 1)[0].lower()
    if len(name) >= 4 and name in lowered:
        return "a password must not contain your email's name"
    return None


class PasswordsBusy(Exception):
    """Every hashing slot of this process is taken: ask the operator to try again in a moment."""


def _lowest_priority() -> None:
    # Linux threads have their own nice value: hops on the request threads win the CPU.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class PasswordWork:
    """argon2id hashing and checking on a bounded pool; thread-safe, one per process."""

    def __init__(self, workers: int = 1, queue: int = 1, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher(**OWASP_ARGON2ID)
        self._slots = threading.BoundedSemaphore(max(workers, 1) + max(queue, 0))
        self._pool = ThreadPoolExecutor(
            max_workers=max(workers, 1), thread_name_prefix="argon2", initializer=_lowest_priority
        )
        self._dummy: str | None = None

    def _run(self, function, *args):
        if not self._slots.acquire(blocking=False):
            raise PasswordsBusy
        try:
            return self._pool.submit(function, *args).result()
        finally:
            self._slots.release()

    def busy(self) -> bool:
        """Whether a hash asked for now would be refused (a hint: the answer may change at once)."""
        if self._slots.acquire(blocking=False):
            self._slots.release()
            return False
        return True

    def hash(self, password: str) -> str:
        """The argon2id hash of `password`; `PasswordsBusy` when the pool is full."""
        return self._run(self.hasher.hash, password)

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether `password` matches `password_hash`; `PasswordsBusy` when the pool is full."""
        return self._run(self._verify, password_hash, password)

    def verify_nobody(self, password: str) -> None:
        """Spend what a real check costs, for an unknown email, so a miss takes as long as a wrong
        password and an email cannot be told to exist by the time it takes."""
        if self._dummy is None:
            self._dummy = self._run(self.hasher.hash, os.urandom(16).hex())
        self._run(self._verify, self._dummy, password)

    @classmethod
    def for_profile(cls, profile: str, workers: int = 1, queue: int = 1) -> PasswordWork:
        """`default`: argon2id at OWASP_ARGON2ID; `cheapest`: for tests only."""
        if profile == "cheapest":
            return cls(workers, queue, PasswordHasher.from_parameters(profiles.CHEAPEST))
        if profile != "default":
            raise ValueError(f"PASSWORD_HASH_PROFILE must be default or cheapest, not {profile!r}")
        return cls(workers, queue)

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
