"""How many SMS segments a body costs, per GSM 03.38.

A body that fits the GSM-7 default alphabet is sent in 7-bit septets (characters from the extension
table take two, an escape and the character); anything else forces UCS-2 for the whole message,
counted in UTF-16 code units. A single segment holds 160 septets or 70 units; once a message is
split, each part loses room to the concatenation header: 153 septets or 67 units.
"""

from __future__ import annotations

import unicodedata
from typing import Literal, NamedTuple

Encoding = Literal["GSM-7", "UCS-2"]
GSM7: Encoding = "GSM-7"
UCS2: Encoding = "UCS-2"

SINGLE_LIMIT: dict[str, int] = {GSM7: 160, UCS2: 70}
PART_LIMIT: dict[str, int] = {GSM7: 153, UCS2: 67}

# GSM 03.38 default alphabet (the escape 0x1B itself is left out: it is not a character to send).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each costs an escape septet plus itself.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
_GSM7 = GSM7_BASIC | GSM7_EXTENSION

# Look-alikes that a name or pasted text often carries; replacing them keeps a body in GSM-7.
_GSM7_SUBSTITUTES = {
    "‘": "'",
    "’": "'",
    "‚": ",",
    "“": '"',
    "”": '"',
    "„": '"',
    "–": "-",
    "—": "-",
    "…": "...",
    "\u00a0": " ",
    "\t": " ",
    "`": "'",
}


class SegmentCount(NamedTuple):
    """`(encoding, segments, units)`; units are septets for GSM-7 and UTF-16 code units for UCS-2."""

    encoding: Encoding
    segments: int
    units: int


def is_gsm7(text: str) -> bool:
    """True when every character of `text` is in the GSM-7 default alphabet or its extension table."""
    return _GSM7.issuperset(text)


def _unit_costs(text: str, encoding: Encoding) -> list[int]:
    if encoding == GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    # Characters outside the Basic Multilingual Plane (most emoji) are a UTF-16 surrogate pair.
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _pack(costs: list[int], part_limit: int) -> int:
    # An escape sequence or a surrogate pair is never split across two parts: it moves whole to the
    # next part, which can make a message one part longer than units / part_limit suggests.
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part_limit:
            parts, used = parts + 1, 0
        used += cost
    return parts


def count_segments(body: str) -> SegmentCount:
    """Encoding, number of segments and units of `body` as a handset and the operator count them.

    An empty body still costs one segment.
    """
    # Set and codec operations rather than a loop per character: bodies are counted on every send.
    if _GSM7.issuperset(body):
        encoding: Encoding = GSM7
        escapes = 0 if GSM7_EXTENSION.isdisjoint(body) else sum(ch in GSM7_EXTENSION for ch in body)
        units = len(body) + escapes
    else:
        encoding = UCS2
        units = len(body.encode("utf-16-le", "surrogatepass")) // 2
    if units <= SINGLE_LIMIT[encoding]:
        return SegmentCount(encoding, 1, units)
    return SegmentCount(encoding, _pack(_unit_costs(body, encoding), PART_LIMIT[encoding]), units)


def to_gsm7(text: str) -> str:
    """`text` with characters outside GSM-7 replaced by the nearest GSM-7 spelling.

    Curly quotes and dashes become their ASCII forms, accented letters lose accents the GSM-7
    alphabet lacks (`ë` -> `e`), and anything left becomes `?`. Meant for values put into a
    template (names typed by people), so that one stray character does not turn a whole message
    into UCS-2 at more than twice the cost.
    """
    if _GSM7.issuperset(text):
        return text
    out: list[str] = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            out.append(ch)
            continue
        if ch in _GSM7_SUBSTITUTES:
            out.append(_GSM7_SUBSTITUTES[ch])
            continue
        stripped = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(stripped if stripped and is_gsm7(stripped) else "?")
    return "".join(out)
