"""Measure one node's screens while it is being edited, exactly as the engine will page them.

The node may not compile yet, so it is read as raw data; the pages come from
`menus.render.screen_pages`, the function the engine itself renders with, and the warnings from
`menus.validator.page_warnings`, the validator's own. Placeholders are filled and lists given
sample items the way the validator measures them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from menus.engine import _PLACEHOLDER
from menus.model import LANGUAGES
from menus.render import PREFIX_LEN, screen_pages, shows_nav
from menus.strings import BUILTIN_STRINGS
from menus.validator import SAMPLE_LABEL_LEN, SAMPLE_VALUE_LEN, page_warnings, sample_items


def _string(document: Mapping[str, Any], key: str, lang: str) -> str:
    own = document.get("strings") or {}
    text = own.get(key) if isinstance(own, Mapping) else None
    if isinstance(text, Mapping) and text.get(lang):
        return str(text[lang])
    return BUILTIN_STRINGS[key][lang]


def _labels(node: Mapping[str, Any], lang: str) -> list[str]:
    if node.get("kind") == "list":
        width = node.get("label_max") if isinstance(node.get("label_max"), int) else SAMPLE_LABEL_LEN
        return [str(item["label"][lang]) for item in sample_items(width)]
    if node.get("kind") != "menu":
        return []
    options = node.get("options") if isinstance(node.get("options"), list) else []
    labels = []
    for option in options:
        label = option.get("label") if isinstance(option, Mapping) else None
        labels.append(str(label.get(lang, "")) if isinstance(label, Mapping) else "")
    return labels


def measure_node(
    document: Mapping[str, Any], node_id: str, node: Mapping[str, Any], screen_limit: int
) -> dict[str, Any]:
    """Per language: `pages` as sent (without "CON "), `page_chars` (with it), `notice_pages` (the
    screen after a wrong key, which carries the "invalid entry" notice), `worst_chars`, `over`
    (a page over the limit) and `warnings` (options pushed behind "98 More", mid-sentence breaks)."""
    out: dict[str, Any] = {"limit": screen_limit, "languages": {}}
    text = node.get("text") if isinstance(node.get("text"), Mapping) else {}
    kind = str(node.get("kind", ""))
    at_start = node_id == document.get("start")
    for lang in LANGUAGES:
        raw = str(text.get(lang, ""))
        filled = _PLACEHOLDER.sub("X" * SAMPLE_VALUE_LEN, raw)
        nav = _string(document, "nav", lang) if shows_nav(kind, at_start) else ""
        more = _string(document, "more", lang)
        labels = _labels(node, lang)
        pages = screen_pages(filled, labels, nav=nav, more=more, limit=screen_limit)
        notice_pages = screen_pages(
            filled, labels, nav=nav, more=more, limit=screen_limit, notice=_string(document, "invalid", lang)
        )
        worst = max(len(p) for p in pages + notice_pages) + PREFIX_LEN
        out["languages"][lang] = {
            "text_chars": len(raw),
            "pages": pages,
            "page_chars": [len(p) + PREFIX_LEN for p in pages],
            "notice_pages": notice_pages,
            "worst_chars": worst,
            "over": worst > screen_limit,
            "warnings": page_warnings(kind, lang, pages, notice_pages, nav, more, screen_limit),
        }
    return out
