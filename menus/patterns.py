"""Operator-written regular expressions (an input's `pattern`, a journey's `expect_re`) on RE2.

RE2 matches in time linear in the input, whatever the pattern: `(a+)+b` against a long line of
`a`s answers in microseconds instead of stalling the hop. It has no backreferences and no
look-around; a pattern that needs them is refused by the validator (`pattern_problem`) and never
reaches a hop.
"""

from __future__ import annotations

from functools import lru_cache

import re2

# Generous for a USSD entry (a few dozen characters), small enough that no pattern grows big.
_MAX_MEMORY = 1 << 20


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is reported to the operator, not to stderr
    options.max_mem = _MAX_MEMORY
    return options


@lru_cache(maxsize=256)
def compiled(pattern: str) -> re2._Regexp:
    """`pattern` compiled by RE2; raises `PatternError` when RE2 cannot run it."""
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        raise PatternError(_reason(exc)) from None


class PatternError(ValueError):
    """A pattern RE2 cannot run (backreferences, look-around, a repeat over 1000, …)."""


def _reason(exc: Exception) -> str:
    message = exc.args[0] if exc.args else exc
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be used, in words an operator can act on; None when it can."""
    try:
        compiled(pattern)
    except PatternError as exc:
        return f"the pattern cannot be used ({exc}): no backreferences or look-around"
    return None
