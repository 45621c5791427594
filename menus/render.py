"""Fit a screen into the USSD limit: split it into pages that each end with the navigation line."""

from __future__ import annotations

# Every reply is prefixed by the aggregator's "CON " or "END "; the limit counts it.
PREFIX_LEN = 4


def _split_long(line: str, width: int) -> list[str]:
    """Break one line at spaces into pieces no longer than `width` (hard-cut a word that can't fit)."""
    if len(line) <= width:
        return [line]
    pieces: list[str] = []
    current = ""
    for word in line.split(" "):
        while len(word) > width:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:width])
            word = word[width:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= width:
            current = candidate
        else:
            pieces.append(current)
            current = word
    if current:
        pieces.append(current)
    return pieces


def paginate(blocks: list[str], nav: str, more: str, limit: int) -> list[str]:
    """Pack `blocks` (text lines, then option lines) into pages of at most `limit` characters.

    Every page but the last ends with `more`; every page ends with `nav` when `nav` is set. A block
    never splits across pages unless it alone is wider than a page.
    """
    width = limit - PREFIX_LEN
    tail_last = [nav] if nav else []
    tail_more = [more, nav] if nav else [more]

    def size(lines: list[str]) -> int:
        return sum(len(x) for x in lines) + max(len(lines) - 1, 0)

    room_last = width - size(tail_last) - (1 if tail_last else 0)
    room_more = width - size(tail_more) - 1
    lines: list[str] = []
    for block in blocks:
        lines.extend(_split_long(block, room_more))

    if size(lines) <= room_last:
        return ["\n".join(lines + tail_last)]

    pages: list[str] = []
    current: list[str] = []
    for line in lines:
        if current and size(current + [line]) > room_more:
            pages.append("\n".join(current + tail_more))
            current = []
        current.append(line)
    pages.append("\n".join(current + tail_last))
    return pages
