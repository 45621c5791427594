"""The aggregator resends every key of the session on each hop (`1*2*3`): find what is new.

The store keeps only the length and a hash of what it already consumed, never the keys themselves,
because the transcript holds PINs and ID numbers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def transcript_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Consumed:
    """What the session has already acted on: the transcript's length and hash."""

    length: int = 0
    digest: str = ""

    @classmethod
    def of(cls, text: str) -> Consumed:
        return cls(len(text), transcript_hash(text))

    def is_repeat(self, text: str) -> bool:
        """The same transcript as last time: the aggregator retried the hop."""
        return len(text) == self.length and transcript_hash(text) == self.digest

    def new_keys(self, text: str) -> tuple[list[str], bool]:
        """Keys in `text` beyond what was consumed, and whether `text` really extended it.

        When the aggregator's transcript does not start with what we consumed (history rewritten),
        fall back to its last segment, the most likely new key, and say so.
        """
        if self.length == 0:
            return (text.split("*") if text else []), True
        if (
            len(text) > self.length
            and text[self.length] == "*"
            and transcript_hash(text[: self.length]) == self.digest
        ):
            return text[self.length + 1 :].split("*"), True
        return [text.rsplit("*", 1)[-1]], False
