"""Run a draft exactly as a citizen would see it, and measure a node's screens while it is edited.

The simulator is stateless: the browser keeps the keys typed so far and each call replays them from
the first screen, through the same engine and pagination as the gateway. Actions answer from the
journey stubs, never from the core service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from menus.engine import Engine
from menus.journeys import stub_runner
from menus.model import LANGUAGES, MenuTree
from menus.render import PREFIX_LEN, paginate
from menus.strings import BUILTIN_STRINGS

MAX_KEYS = 60


def action_stubs(journeys: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every journey's action stubs merged, later journeys winning."""
    stubs: dict[str, Any] = {}
    for journey in (journeys or {}).get("journeys", []) or []:
        if isinstance(journey, dict) and isinstance(journey.get("actions"), dict):
            stubs.update(journey["actions"])
    return stubs


def simulate(
    tree: MenuTree, keys: list[str], lang: str, screen_limit: int, journeys: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Dial `tree` and press `keys`; the screen after the last key (or the one that ended the session)."""
    engine = Engine(tree, stub_runner(action_stubs(journeys)), screen_limit=screen_limit)
    state = engine.new_state(lang if lang in LANGUAGES else LANGUAGES[0])
    result = engine.start(state)
    used = 0
    for key in keys[:MAX_KEYS]:
        if result.screen.final:
            break
        result = engine.step(state, str(key)[:40])
        used += 1
    prefix = "END " if result.screen.final else "CON "
    return {
        "reply": prefix + result.screen.body,
        "screen": result.screen.body,
        "final": result.screen.final,
        "node": result.node,
        "outcome": result.outcome,
        "lang": state.lang,
        "keys_used": used,
        "chars": len(result.screen.body) + PREFIX_LEN,
        "limit": screen_limit,
        "version": tree.version,
    }


def _string(document: Mapping[str, Any], key: str, lang: str) -> str:
    own = document.get("strings") or {}
    text = own.get(key) if isinstance(own, dict) else None
    if isinstance(text, dict) and text.get(lang):
        return str(text[lang])
    return BUILTIN_STRINGS[key][lang]


def measure_node(
    document: Mapping[str, Any], node_id: str, node: Mapping[str, Any], screen_limit: int
) -> dict[str, Any]:
    """The pages a node's text and options make in each language, as the engine would page them.

    Mirrors `Engine._pages` for a node being edited (which may not compile yet): text lines, then
    numbered options, the navigation line except on the start and end screens, `98 More` between
    pages. `worst` is the longest page when the "invalid entry" notice is shown on top, which is what
    the validator measures.
    """
    out: dict[str, Any] = {"limit": screen_limit, "languages": {}}
    text = node.get("text") if isinstance(node.get("text"), dict) else {}
    options = node.get("options") if isinstance(node.get("options"), list) else []
    kind = node.get("kind")
    for lang in LANGUAGES:
        blocks = str(text.get(lang, "")).split("\n")
        for number, option in enumerate(options, 1):
            label = option.get("label", {}) if isinstance(option, dict) else {}
            blocks.append(f"{number}. {label.get(lang, '') if isinstance(label, dict) else ''}")
        at_root = node_id == document.get("start")
        nav = "" if at_root or kind == "end" else _string(document, "nav", lang)
        more = _string(document, "more", lang)
        pages = paginate(blocks, nav, more, screen_limit)
        worst = paginate([_string(document, "invalid", lang), *blocks], nav, more, screen_limit)
        longest = max(len(p) for p in worst) + PREFIX_LEN
        out["languages"][lang] = {
            "text_chars": len(str(text.get(lang, ""))),
            "pages": pages,
            "page_chars": [len(p) + PREFIX_LEN for p in pages],
            "worst_chars": longest,
            "over": longest > screen_limit,
        }
    return out
