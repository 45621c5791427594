"""Application references such as ECZ-7K3Q9P: short, unambiguous on a phone keypad and on paper."""

from __future__ import annotations

import re
import secrets

PREFIX = "ECZ-"
# no 0/O, 1/I/L: they are confused when read aloud or typed from an SMS
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 6
PATTERN = re.compile(rf"^ECZ-[{ALPHABET}]{{{LENGTH}}}$")


def new_reference() -> str:
    """A random reference; the caller checks uniqueness against the database."""
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise_reference(text: str) -> str | None:
    """The canonical form of a reference as a citizen may type it ('ecz 7k3q9p', '7K3Q9P'), or None
    when it cannot be one."""
    compact = re.sub(r"[\s\-]", "", text or "").upper()
    if compact.startswith("ECZ"):
        compact = compact[3:]
    candidate = PREFIX + compact
    return candidate if PATTERN.match(candidate) else None
