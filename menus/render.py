"""Fit a screen into the USSD limit: split it into pages that each end with the navigation line."""

from __future__ import annotations

from collections.abc import Sequence

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


def screen_blocks(
    text: str, labels: Sequence[str], notice: str | None = None, numbers: Sequence[int] | None = None
) -> list[str]:
    """The lines of one screen before paging: the notice (e.g. "Invalid entry, try again."), the
    text's lines, then the numbered options or list items. `numbers` are the options' own numbers
    when some are hidden from this caller (1, 2, 3… otherwise)."""
    blocks = [notice] if notice else []
    blocks.extend(text.split("\n"))
    keys = numbers if numbers is not None else range(1, len(labels) + 1)
    blocks.extend(f"{number}. {label}" for number, label in zip(keys, labels, strict=True))
    return blocks


def shows_nav(kind: str, at_start: bool) -> bool:
    """Every screen but the start screen and END screens carries the "0 Back 00 Home" line."""
    return not at_start and kind != "end"


def screen_pages(
    text: str,
    labels: Sequence[str],
    *,
    nav: str,
    more: str,
    limit: int,
    notice: str | None = None,
    numbers: Sequence[int] | None = None,
) -> list[str]:
    """The pages of one screen exactly as a phone gets them (without "CON "/"END "): what the
    engine sends, and what the console measures while a node is edited. `nav` is "" on screens
    without the navigation line (see `shows_nav`)."""
    return paginate(screen_blocks(text, labels, notice, numbers), nav, more, limit)


def page_content(page: str, nav: str, more: str) -> list[str]:
    """A page's own lines, without the "98 More" and navigation lines paging added."""
    lines = page.split("\n")
    if nav and lines and lines[-1] == nav:
        lines = lines[:-1]
    if lines and lines[-1] == more:
        lines = lines[:-1]
    return lines


def shorten(text: str, width: int) -> str:
    """`text` on one line, cut at a word boundary to at most `width` characters with an ellipsis,
    for labels and messages that must not repeat a long text in full."""
    flat = " ".join(str(text).split())
    if len(flat) <= width:
        return flat
    cut = flat[: max(width - 1, 1)]
    if " " in cut[width // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:") + "…"
