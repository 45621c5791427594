"""Semantic checks of a tree: what the schema cannot see. Publishing and CI refuse a tree with problems."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from menus.engine import _PLACEHOLDER, Engine, SessionState
from menus.loader import TreeError, TreeProblem, build_tree
from menus.model import LANGUAGES, MenuTree, Node
from menus.patterns import pattern_problem
from menus.render import PREFIX_LEN, page_content, shorten, shows_nav

# Placeholders are filled with this many characters when screens are measured.
SAMPLE_VALUE_LEN = 12
_ID = re.compile(r"[a-z][a-z0-9_]{0,39}")
# A list's items are measured with labels this long, unless the list cuts them shorter (label_max).
SAMPLE_LABEL_LEN = 24
SAMPLE_ITEM_COUNT = 12
# Fewer items than this on a list's first page makes the citizen page through too much.
MIN_ITEMS_PER_PAGE = 4


def sample_items(width: int) -> list[dict[str, Any]]:
    """Twelve list items with labels `width` characters long, as lists are measured."""
    return [
        {"id": str(i), "label": {lang: "X" * width for lang in LANGUAGES}}
        for i in range(1, SAMPLE_ITEM_COUNT + 1)
    ]


def _texts(node: Node) -> Iterable[tuple[str, dict[str, str]]]:
    if node.text:
        yield "text", node.text
    elif node.kind != "action":
        yield "text", {}
    for audience, text in node.audience_text.items():
        yield f"text for '{audience}'", text
    for i, option in enumerate(node.options, 1):
        yield f"option {i}", option.label
    if node.input and node.input.error:
        yield "input error", node.input.error


def _translation_problems(tree: MenuTree) -> list[TreeProblem]:
    problems = []
    for node in tree.nodes.values():
        for where, text in _texts(node):
            for lang in LANGUAGES:
                if not text.get(lang, "").strip():
                    problems.append(TreeProblem(f"{where} has no '{lang}' text", node=node.id))
    for key, text in tree.strings.items():
        for lang in LANGUAGES:
            if not text.get(lang, "").strip():
                problems.append(TreeProblem(f"string '{key}' has no '{lang}' text"))
    return problems


def _reference_problems(tree: MenuTree) -> list[TreeProblem]:
    problems = []
    if tree.start not in tree.nodes:
        problems.append(TreeProblem(f"start node '{tree.start}' does not exist"))
    for node in tree.nodes.values():
        for target in node.targets():
            if target not in tree.nodes:
                problems.append(TreeProblem(f"leads to '{target}', which does not exist", node=node.id))
        if node.kind == "list" and not node.failure:
            problems.append(
                TreeProblem("a list needs a 'failure' node for when its action fails", node=node.id)
            )
        if node.input and node.input.same_as:
            stores = {n.store for n in tree.nodes.values() if n.store}
            if node.input.same_as not in stores:
                problems.append(
                    TreeProblem(f"same_as '{node.input.same_as}' is not stored by any node", node=node.id)
                )
        if node.input and node.input.type == "regex" and not node.input.pattern:
            problems.append(TreeProblem("a regex input needs a 'pattern'", node=node.id))
        elif node.input and node.input.type == "regex":
            unusable = pattern_problem(node.input.pattern or "")
            if unusable:
                problems.append(TreeProblem(unusable, node=node.id))
        if node.kind == "end" and node.targets():
            problems.append(TreeProblem("an end node leads nowhere; remove next/options", node=node.id))
        problems += _audience_problems(tree, node)
        if node.shortcut is not None:
            if node.kind not in ("menu", "list"):
                problems.append(TreeProblem("only menus and lists take a shortcut", node=node.id))
            try:
                re.compile(node.shortcut.pattern)
            except re.error as exc:
                problems.append(TreeProblem(f"shortcut pattern does not compile: {exc}", node=node.id))
        if node.label_max is not None and node.kind != "list":
            problems.append(TreeProblem("only lists have 'label_max'", node=node.id))
    return problems


def _audience_problems(tree: MenuTree, node: Node) -> list[TreeProblem]:
    """Audiences a node names must be the tree's; every audience must see an option of a menu
    that has options, or it would be stuck on a screen with nothing to choose."""
    problems = []
    known = set(tree.audiences)
    named = set(node.audience_text) | {a for o in node.options for a in o.audiences}
    for audience in sorted(named - known):
        problems.append(
            TreeProblem(f"audience '{audience}' is not one of the tree's audiences", node=node.id)
        )
    if node.kind == "menu" and node.options:
        for audience in tree.audiences or (None,):
            if not any(o.shown_to(audience) for o in node.options):
                problems.append(TreeProblem(f"audience '{audience}' sees no option", node=node.id))
    return problems


@dataclass(frozen=True)
class Link:
    """One way out of a node: `kind` is option, next, failure, error, empty or shortcut; `label` says which
    (the option's key, or the action's error code)."""

    target: str
    kind: str
    label: str


def links(node: Mapping[str, Any]) -> list[Link]:
    """Every way out of a raw node document, in the order an editor reads them; tolerant of a
    half-edited node (anything malformed is skipped). The same targets as `Node.targets()`."""
    found: list[Link] = []
    options = node.get("options")
    for number, option in enumerate(options if isinstance(options, list) else [], 1):
        if isinstance(option, Mapping) and isinstance(option.get("next"), str):
            found.append(Link(option["next"], "option", str(number)))
    for key in ("next", "failure", "empty"):
        if isinstance(node.get(key), str):
            found.append(Link(node[key], key, key))
    shortcut = node.get("shortcut")
    if isinstance(shortcut, Mapping) and isinstance(shortcut.get("next"), str):
        found.append(Link(shortcut["next"], "shortcut", "code"))
    errors = node.get("errors")
    for code, target in errors.items() if isinstance(errors, Mapping) else []:
        if isinstance(target, str):
            found.append(Link(target, "error", str(code)))
    return found


def reachable(document: Mapping[str, Any]) -> set[str]:
    """Ids of the nodes a citizen can reach from `start` through any link (options, next, failure,
    empty, a typed `shortcut` and `errors:` routes). The one reachability rule: the validator and
    the console's graph both use it. Empty when the start node does not exist."""
    nodes = document.get("nodes")
    nodes = nodes if isinstance(nodes, Mapping) else {}
    start = document.get("start")
    if not isinstance(start, str) or start not in nodes:
        return set()
    seen = {start}
    todo = [start]
    while todo:
        raw = nodes[todo.pop()]
        for link in links(raw if isinstance(raw, Mapping) else {}):
            if link.target in nodes and link.target not in seen:
                seen.add(link.target)
                todo.append(link.target)
    return seen


def _unreachable(tree: MenuTree) -> list[TreeProblem]:
    if tree.start not in tree.nodes:
        return []
    seen = reachable(tree.source)
    return [TreeProblem("cannot be reached from the start", node=n) for n in tree.nodes if n not in seen]


def _action_problems(tree: MenuTree, known_actions: set[str] | None) -> list[TreeProblem]:
    problems = []
    if tree.on_start and known_actions is not None and tree.on_start not in known_actions:
        problems.append(TreeProblem(f"on_start names unknown action '{tree.on_start}'"))
    for node in tree.nodes.values():
        if node.kind in ("action", "list"):
            if known_actions is not None and node.action not in known_actions:
                problems.append(TreeProblem(f"unknown action '{node.action}'", node=node.id))
        elif node.action:
            problems.append(TreeProblem(f"a {node.kind} node cannot run an action", node=node.id))
        if node.errors and node.kind not in ("action", "list"):
            problems.append(TreeProblem("only action and list nodes have 'errors'", node=node.id))
    # An action node that leads, only through action nodes, back to itself would loop forever.
    for node in tree.nodes.values():
        if node.kind != "action":
            continue
        seen, todo = set(), [node.id]
        while todo:
            current = tree.nodes.get(todo.pop())
            if current is None or current.kind != "action":
                continue
            for target in (current.next, current.failure, *current.errors.values()):
                if target == node.id:
                    problems.append(
                        TreeProblem("actions lead back to this action without a screen", node=node.id)
                    )
                    todo = []
                    break
                if target and target not in seen:
                    seen.add(target)
                    todo.append(target)
    return problems


def _renderable(tree: MenuTree, node: Node, lang: str) -> bool:
    """A screen can be measured in `lang` only when every text it needs exists in that language
    (a missing one is reported on its own)."""
    texts = [node.text, *(o.label for o in node.options)]
    strings = [tree.strings.get(k, {}) for k in ("nav", "more", "invalid")]
    return all(text.get(lang) is not None for text in texts + strings)


def _screens(
    tree: MenuTree, screen_limit: int
) -> Iterable[tuple[Node, str, str | None, SessionState, list[str], list[str]]]:
    """(node, language, audience, sample state, pages, pages after a wrong key) of every screen,
    for every audience it differs for, rendered by the engine with sample values (placeholders 12
    characters, a list 12 items of its `label_max` or 24 characters)."""
    sample = {k: "X" * SAMPLE_VALUE_LEN for k in _placeholders(tree)}
    engine = Engine(tree, screen_limit=screen_limit)
    for node in tree.nodes.values():
        if node.kind == "action":
            continue
        for lang in LANGUAGES:
            if not _renderable(tree, node, lang):
                continue
            for audience in _audiences_of(tree, node):
                state = _sample_state(tree, node, lang, audience, sample)
                pages = engine._pages(state)
                notice_pages = engine._pages(state, notice=tree.string("invalid", lang))
                yield node, lang, audience, state, pages, notice_pages


def _screen_problems(tree: MenuTree, screen_limit: int) -> list[TreeProblem]:
    """Render every screen in every language, with sample values, and measure it.

    Pagination keeps each page under the limit, so an overflow here means a screen that paging
    cannot rescue: an option label longer than a page, a prompt that no longer fits one screen
    (the citizen must see it whole to answer), or an end text of more than three pages.
    """
    problems = []
    width = screen_limit - PREFIX_LEN
    measured: set[tuple[str, str]] = set()  # option labels do not change with the audience
    for node, lang, audience, _state, pages, notice_pages in _screens(tree, screen_limit):
        who = f" for '{audience}'" if audience is not None else ""
        nav = "" if node.id == tree.start else tree.string("nav", lang)
        room = width - len(tree.string("more", lang)) - (len(nav) + 2 if nav else 1)
        options = node.options if (node.id, lang) not in measured else ()
        measured.add((node.id, lang))
        for number, option in enumerate(options, 1):
            line = f"{number}. {option.label[lang]}"
            if len(line) > room:
                problems.append(
                    TreeProblem(
                        f"'{lang}' option {number} is {len(line)} characters; a {screen_limit}-character "
                        f"screen holds {room} beside the navigation line",
                        node=node.id,
                    )
                )
        if node.kind == "input" and len(notice_pages) > 1:
            notice = tree.string("invalid", lang)
            length = len("\n".join([notice, *pages])) + PREFIX_LEN
            problems.append(
                TreeProblem(
                    f"'{lang}'{who} prompt needs {length} characters with an error line, over the "
                    f"{screen_limit} limit: it must fit one screen",
                    node=node.id,
                )
            )
        shown = notice_pages if node.kind == "input" else pages
        for number, page in enumerate(shown, 1):
            if len(page) + PREFIX_LEN > screen_limit:
                problems.append(
                    TreeProblem(
                        f"'{lang}'{who} page {number} is {len(page) + PREFIX_LEN} characters, over the "
                        f"{screen_limit} limit",
                        node=node.id,
                    )
                )
        if node.kind == "end" and len(pages) > 3:
            problems.append(
                TreeProblem(f"'{lang}'{who} end text has {len(pages)} pages; keep it to 3", node=node.id)
            )
    return problems


def _audiences_of(tree: MenuTree, node: Node) -> tuple[str | None, ...]:
    """The audiences a node's screen differs for (every one of the tree's when it differs at all)."""
    if tree.audiences and (node.audience_text or any(o.audiences for o in node.options)):
        return tree.audiences
    return (None,)


def _sample_state(
    tree: MenuTree, node: Node, lang: str, audience: str | None, sample: dict[str, str]
) -> SessionState:
    answers = dict(sample)
    if audience is not None:
        answers["audience"] = audience
    state = SessionState(tree.id, tree.version, node.id, lang, answers=answers)
    if node.kind == "list":
        state.items = sample_items(node.label_max or SAMPLE_LABEL_LEN)
    return state


_OPTION_LINE = re.compile(r"^(\d{1,2})\. ")
_SENTENCE_END = (".", "!", "?", ":", ";", ")", "…", '"', "'")


def _options(numbers: list[int]) -> str:
    """ "option 8" or "options 7–8"."""
    if len(numbers) == 1:
        return f"option {numbers[0]}"
    return f"options {numbers[0]}–{numbers[-1]}"


def _options_after_first(pages: list[str], nav: str, more: str) -> list[int]:
    found = []
    for page in pages[1:]:
        for line in page_content(page, nav, more):
            match = _OPTION_LINE.match(line)
            if match:
                found.append(int(match.group(1)))
    return found


def page_warnings(
    kind: str, lang: str, pages: list[str], notice_pages: list[str], nav: str, more: str, limit: int
) -> list[str]:
    """What a citizen would stumble on in one screen, though it fits the limit: a menu whose
    options (all, or after a wrong key) are pushed behind "98 More", and a text that breaks across
    pages in the middle of a sentence. The console shows these while a node is edited and the
    validator reports them as warnings; neither blocks publishing."""
    warnings = []
    if kind == "menu" and len(pages) > 1:
        hidden = _options_after_first(pages, nav, more)
        warnings.append(
            f"'{lang}' menu needs {len(pages)} pages of {limit} characters"
            + (f": {_options(hidden)} behind '{more}'" if hidden else "")
            + "; shorten the text or the options"
        )
    elif kind == "menu" and len(notice_pages) > 1:
        hidden = _options_after_first(notice_pages, nav, more)
        if hidden:
            extra = len(notice_pages[0].split("\n")[0]) + 1
            warnings.append(
                f"'{lang}' after a wrong key the notice ({extra} characters) pushes {_options(hidden)} "
                f"behind '{more}' ({len(notice_pages)} pages of {limit} characters); shorten the text or "
                "the options"
            )
    for number in range(len(pages) - 1):
        before = page_content(pages[number], nav, more)
        after = page_content(pages[number + 1], nav, more)
        if not before or not after:
            continue
        last, first = before[-1], after[0]
        if _OPTION_LINE.match(last) or _OPTION_LINE.match(first) or last.rstrip().endswith(_SENTENCE_END):
            continue
        warnings.append(
            f"'{lang}' text breaks mid-sentence between pages {number + 1} and {number + 2} "
            f'("…{shorten(last[-30:], 30)}" | "{shorten(first, 30)}"); end page {number + 1} at a '
            "full stop or shorten the text"
        )
    return warnings


def screen_warnings(tree: MenuTree, screen_limit: int = 160) -> list[TreeProblem]:
    """`page_warnings` of every screen of `tree`, and its `tree_warnings`, as problems with
    severity "warning"."""
    return list(_screen_warnings(_Version(tree), screen_limit))


@lru_cache(maxsize=32)
def _screen_warnings(version: _Version, screen_limit: int) -> tuple[TreeProblem, ...]:
    tree = version.tree
    found = []
    for node, lang, _audience, _state, pages, notice_pages in _screens(tree, screen_limit):
        nav = tree.string("nav", lang) if shows_nav(node.kind, node.id == tree.start) else ""
        for message in page_warnings(
            node.kind, lang, pages, notice_pages, nav, tree.string("more", lang), screen_limit
        ):
            found.append(TreeProblem(message, node=node.id, severity="warning"))
    return tuple(found + tree_warnings(tree, screen_limit))


def _placeholders(tree: MenuTree) -> set[str]:
    found: set[str] = set()
    for node in tree.nodes.values():
        for text in node.text.values():
            found.update(_PLACEHOLDER.findall(text))
    return found


def tree_warnings(tree: MenuTree, screen_limit: int = 160) -> list[TreeProblem]:
    """What makes a tree slow to use without breaking it: lists and menus whose first page holds
    fewer than MIN_ITEMS_PER_PAGE choices. A list is measured with labels of its `label_max`
    (SAMPLE_LABEL_LEN without one), so shortening labels and declaring it fixes the warning."""
    warnings = []
    for node, lang, audience, state, pages, _notice_pages in _screens(tree, screen_limit):
        if node.kind not in ("menu", "list"):
            continue
        choices = len(state.items) if node.kind == "list" else sum(o.shown_to(audience) for o in node.options)
        wanted = min(MIN_ITEMS_PER_PAGE, choices)
        shown = sum(1 for line in pages[0].split("\n") if _OPTION_LINE.match(line))
        if shown < wanted:
            width = f", with labels of {node.label_max or SAMPLE_LABEL_LEN} characters"
            warnings.append(
                TreeProblem(
                    f"'{lang}' first page shows {shown} of {choices} choices"
                    f"{width if node.kind == 'list' else ''}; aim for {wanted} or more",
                    node=node.id,
                    severity="warning",
                )
            )
    return warnings


class _Version:
    """A tree as a cache key: its content version, a hash of the whole document it was built from
    (equal version, equal tree, so equal problems)."""

    __slots__ = ("tree",)

    def __init__(self, tree: MenuTree) -> None:
        self.tree = tree

    def __hash__(self) -> int:
        return hash(self.tree.version)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Version) and other.tree.version == self.tree.version


def validate_tree(
    tree: MenuTree, screen_limit: int = 160, known_actions: set[str] | None = None
) -> list[TreeProblem]:
    """Every problem in `tree`: dangling or unreachable nodes, missing translations, unknown actions,
    and screens over `screen_limit` in any language. An empty list means the tree may be published.
    No problem hides another: a screen missing a language is measured in the other one."""
    actions = None if known_actions is None else frozenset(known_actions)
    return list(_validate_tree(_Version(tree), screen_limit, actions))


# The same tree is checked again and again (every app start and seed, every draft the console
# loads or saves): rendering every screen of the shipped tree takes tens of milliseconds.
@lru_cache(maxsize=32)
def _validate_tree(
    version: _Version, screen_limit: int, known_actions: frozenset[str] | None
) -> tuple[TreeProblem, ...]:
    tree = version.tree
    problems = _reference_problems(tree) + _translation_problems(tree)
    problems += _unreachable(tree)
    problems += _action_problems(tree, known_actions)
    problems += _screen_problems(tree, screen_limit)
    return tuple(problems)


def _stand_in(raw: Any) -> dict[str, Any]:
    """A schema-valid node keeping a broken node's links (and what it stores), so the rest of the
    tree can still be checked around it."""
    raw = raw if isinstance(raw, Mapping) else {}
    targets = [link.target for link in links(raw) if _ID.fullmatch(link.target)][:97]
    dash = dict.fromkeys(LANGUAGES, "-")
    node: dict[str, Any] = {
        "kind": "menu",
        "text": dict(dash),
        "options": [{"label": dict(dash), "next": target} for target in targets],
    }
    if isinstance(raw.get("store"), str) and _ID.fullmatch(raw["store"]):
        node["store"] = raw["store"]
    return node


def _checks_despite_schema(
    document: Any, schema: list[TreeProblem], screen_limit: int, known_actions: set[str] | None
) -> list[TreeProblem]:
    """The semantic problems of a document that fails its schema, found on a copy where each
    broken node is a stand-in; nothing is said about the stand-ins themselves."""
    if not isinstance(document, Mapping) or not isinstance(document.get("nodes"), Mapping):
        return []
    repaired = copy.deepcopy(dict(document))
    broken = {p.node for p in schema if p.node}
    nodes = repaired["nodes"]
    for node_id in list(nodes):
        if not isinstance(node_id, str) or not _ID.fullmatch(node_id):
            del nodes[node_id]
        elif node_id in broken:
            nodes[node_id] = _stand_in(nodes[node_id])
    top = {p.path.split("/")[0] for p in schema if not p.node}
    fillers = {"id": "tree", "title": "tree", "service_codes": ["*1#"]}
    for key in top:
        if key in fillers:
            repaired[key] = fillers[key]
        elif key in ("strings", ""):
            repaired.pop("strings", None)
            for extra in set(repaired) - {"id", "title", "service_codes", "start", "strings", "nodes"}:
                del repaired[extra]
    for key, filler in fillers.items():
        repaired.setdefault(key, filler)
    try:
        tree = build_tree(repaired)
    except TreeError:
        return []
    return [p for p in validate_tree(tree, screen_limit, known_actions) if p.node not in broken or not p.node]


def validate_document(
    document: dict[str, Any], screen_limit: int = 160, known_actions: set[str] | None = None
) -> tuple[MenuTree | None, list[TreeProblem]]:
    """Schema and semantic checks of a raw document, for the CLI, the console and the API.

    Returns the compiled tree (None when the schema refuses it) and every problem found: schema
    errors do not hide the semantic problems of the other nodes."""
    try:
        tree = build_tree(document)
    except TreeError as exc:
        return None, exc.problems + _checks_despite_schema(
            document, exc.problems, screen_limit, known_actions
        )
    return tree, validate_tree(tree, screen_limit, known_actions)
