"""A time budget: how long a caller may still wait, shared by every call made for one hop."""

from __future__ import annotations

import time
from collections.abc import Callable


class Budget:
    """A deadline on a monotonic clock.

    `Budget(0.4)` gives 400 ms from now; pass the same object to every backend call of a USSD hop
    so together they never exceed it. Never negative, thread-safe (immutable).
    """

    __slots__ = ("_clock", "deadline")

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.deadline = clock() + max(seconds, 0.0)

    @classmethod
    def until(cls, deadline: float, *, clock: Callable[[], float] = time.monotonic) -> Budget:
        """A budget ending at `deadline`, a value of `clock` (time.monotonic by default)."""
        return cls(deadline - clock(), clock=clock)

    def remaining(self) -> float:
        """Seconds left, 0.0 once spent."""
        return max(self.deadline - self._clock(), 0.0)

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def timeout(self, cap: float) -> float:
        """The timeout for one call: the smaller of what is left and `cap`."""
        return min(self.remaining(), cap)

    def __repr__(self) -> str:
        return f"Budget(remaining={self.remaining():.3f}s)"
