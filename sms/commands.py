"""What a citizen can ask by SMS, read from the text of an inbound message. Pure: no I/O.

`STATUS <ref>`, `HELP`, `STOP`, `START`, `LANG EN|SW` and `LUGHA SW|EN` (the templates name these
words in both languages); a few everyday synonyms are accepted too. Anything else is `unknown`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

CommandName = Literal["status", "help", "stop", "start", "lang", "unknown"]

_WORDS: dict[str, CommandName] = {
    "STATUS": "status",
    "HALI": "status",
    "TRACK": "status",
    "HELP": "help",
    "MSAADA": "help",
    "STOP": "stop",
    "START": "start",
    "LANG": "lang",
    "LANGUAGE": "lang",
    "LUGHA": "lang",
}
_LANGUAGES = {
    "EN": "en",
    "ENG": "en",
    "ENGLISH": "en",
    "KIINGEREZA": "en",
    "SW": "sw",
    "SWA": "sw",
    "SWAHILI": "sw",
    "KISWAHILI": "sw",
}
# References are short letters and digits with an optional dash (ECZ-7K3Q9P).
_REFERENCE = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,19}$")


@dataclass(frozen=True)
class Command:
    """A parsed inbound SMS: the command and its argument (a reference or a language code)."""

    name: CommandName
    argument: str | None = None


def parse_command(text: str) -> Command:
    """The command in `text`; `status` without a usable reference and `lang` without a known
    language come back as `help` (the citizen needs the syntax)."""
    words = re.sub(r"[^\w\s-]", " ", text or "").upper().split()
    if not words or words[0] not in _WORDS:
        return Command("unknown")
    name = _WORDS[words[0]]
    rest = words[1:]
    if name == "status":
        reference = "".join(rest)
        return Command("status", reference) if _REFERENCE.match(reference) else Command("help")
    if name == "lang":
        language = _LANGUAGES.get(rest[0]) if rest else None
        return Command("lang", language) if language else Command("help")
    return Command(name)
