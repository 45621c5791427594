"""Semantic checks of a tree: what the schema cannot see. Publishing and CI refuse a tree with problems."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from menus.engine import _PLACEHOLDER, Engine, SessionState
from menus.loader import TreeError, TreeProblem, build_tree
from menus.model import LANGUAGES, MenuTree, Node
from menus.patterns import pattern_problem
from menus.render import PREFIX_LEN

# Placeholders are filled with this many characters when screens are measured.
SAMPLE_VALUE_LEN = 12
SAMPLE_ITEMS = [{"id": str(i), "label": {lang: "X" * 24 for lang in LANGUAGES}} for i in range(1, 13)]


def _texts(node: Node) -> Iterable[tuple[str, dict[str, str]]]:
    if node.text:
        yield "text", node.text
    elif node.kind != "action":
        yield "text", {}
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
    return problems


def _unreachable(tree: MenuTree) -> list[TreeProblem]:
    if tree.start not in tree.nodes:
        return []
    seen = {tree.start}
    todo = [tree.start]
    while todo:
        for target in tree.nodes[todo.pop()].targets():
            if target in tree.nodes and target not in seen:
                seen.add(target)
                todo.append(target)
    return [TreeProblem("cannot be reached from the start", node=n) for n in tree.nodes if n not in seen]


def _action_problems(tree: MenuTree, known_actions: set[str] | None) -> list[TreeProblem]:
    problems = []
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


def _screen_problems(tree: MenuTree, screen_limit: int) -> list[TreeProblem]:
    """Render every screen in every language, with sample values, and measure it.

    Pagination keeps each page under the limit, so an overflow here means a screen that paging
    cannot rescue: an option label longer than a page, a prompt that no longer fits one screen
    (the citizen must see it whole to answer), or an end text of more than three pages.
    """
    problems = []
    sample = {k: "X" * SAMPLE_VALUE_LEN for k in _placeholders(tree)}
    engine = Engine(tree, screen_limit=screen_limit)
    width = screen_limit - PREFIX_LEN
    for node in tree.nodes.values():
        if node.kind == "action":
            continue
        for lang in LANGUAGES:
            nav = "" if node.id == tree.start else tree.string("nav", lang)
            room = width - len(tree.string("more", lang)) - (len(nav) + 2 if nav else 1)
            for number, option in enumerate(node.options, 1):
                line = f"{number}. {option.label[lang]}"
                if len(line) > room:
                    problems.append(
                        TreeProblem(
                            f"'{lang}' option {number} is {len(line)} characters; a {screen_limit}-character "
                            f"screen holds {room} beside the navigation line",
                            node=node.id,
                        )
                    )
            state = SessionState(tree.id, tree.version, node.id, lang, answers=dict(sample))
            if node.kind == "list":
                state.items = SAMPLE_ITEMS
            notice = tree.string("invalid", lang)
            pages = engine._pages(state, notice=notice if node.kind == "input" else None)
            if node.kind == "input" and len(pages) > 1:
                length = len("\n".join([notice, *engine._pages(state)])) + PREFIX_LEN
                problems.append(
                    TreeProblem(
                        f"'{lang}' prompt needs {length} characters with an error line, over the "
                        f"{screen_limit} limit: it must fit one screen",
                        node=node.id,
                    )
                )
            for number, page in enumerate(pages, 1):
                if len(page) + PREFIX_LEN > screen_limit:
                    problems.append(
                        TreeProblem(
                            f"'{lang}' page {number} is {len(page) + PREFIX_LEN} characters, over the "
                            f"{screen_limit} limit",
                            node=node.id,
                        )
                    )
            if node.kind == "end" and len(pages) > 3:
                problems.append(
                    TreeProblem(f"'{lang}' end text has {len(pages)} pages; keep it to 3", node=node.id)
                )
    return problems


def _placeholders(tree: MenuTree) -> set[str]:
    found: set[str] = set()
    for node in tree.nodes.values():
        for text in node.text.values():
            found.update(_PLACEHOLDER.findall(text))
    return found


def validate_tree(
    tree: MenuTree, screen_limit: int = 160, known_actions: set[str] | None = None
) -> list[TreeProblem]:
    """Every problem in `tree`: dangling or unreachable nodes, missing translations, unknown actions,
    and screens over `screen_limit` in any language. An empty list means the tree may be published."""
    problems = _reference_problems(tree) + _translation_problems(tree)
    if problems:
        return problems  # the rest would trip over the same holes
    problems += _unreachable(tree)
    problems += _action_problems(tree, known_actions)
    problems += _screen_problems(tree, screen_limit)
    return problems


def validate_document(
    document: dict[str, Any], screen_limit: int = 160, known_actions: set[str] | None = None
) -> tuple[MenuTree | None, list[TreeProblem]]:
    """Schema and semantic checks of a raw document, for the CLI, the console and the API."""
    try:
        tree = build_tree(document)
    except TreeError as exc:
        return None, exc.problems
    return tree, validate_tree(tree, screen_limit, known_actions)
