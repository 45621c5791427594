"""The pure engine: (tree, session state, one key) -> the next screen, plus effects.

No I/O happens here. Actions (anything that reaches the core service) are run by a callable the
caller injects; the engine only decides which action, with which parameters, and where to go next.
What an action wants done afterwards (an SMS, an audit event) comes back as effects
(`menus.effects`), carried through the step in order for the caller to carry out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from common.outcomes import HopOutcome
from menus.effects import Effect, SetLanguage
from menus.inputs import check_input
from menus.model import MenuTree, Node
from menus.render import screen_pages, shows_nav

MAX_STACK = 20
MAX_ACTION_CHAIN = 12
MAX_LIST_ITEMS = 97  # 98 is reserved for "more"

KEY_BACK, KEY_HOME, KEY_MORE = "0", "00", "98"
# Rendered pages of screens without placeholders, by (node id, language): the same for every session.
StaticPages = dict[tuple[str, str], list[str]]
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@dataclass
class SessionState:
    """Where one citizen is in one tree. Small on purpose: it lives in Redis for every live session."""

    tree_id: str
    version: str
    node: str
    lang: str
    page: int = 0
    tries: int = 0
    stack: list[str] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False


@dataclass(frozen=True)
class Screen:
    """What the citizen sees. `final` screens end the session (END); others wait for input (CON)."""

    body: str
    final: bool


@dataclass(frozen=True)
class ActionResult:
    """What an action returned. `data` scalars join the answers; a list node reads `data["items"]`;
    `effects` join the step's, for the caller to carry out after it."""

    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    effects: tuple[Effect, ...] = ()


# (action name, parameters, language) -> result. Must not raise; failures are ActionResult(ok=False).
ActionRunner = Callable[[str, Mapping[str, Any], str], ActionResult]


@dataclass(frozen=True)
class StepResult:
    screen: Screen
    effects: tuple[Effect, ...]
    # What the key did (start, option, input, invalid, back, home, more), for metrics and audit.
    outcome: HopOutcome
    node: str


def no_actions(name: str, _params: Mapping[str, Any], _lang: str) -> ActionResult:
    """The runner for trees without actions: every action fails, so failure branches show."""
    return ActionResult(ok=False, error=f"no runner for action {name}")


class Engine:
    """Walks one tree. Create one per tree version; it holds no per-session data."""

    def __init__(
        self,
        tree: MenuTree,
        run_action: ActionRunner = no_actions,
        screen_limit: int = 160,
        max_tries: int = 3,
        today: Callable[[], date] = date.today,
        static_pages: StaticPages | None = None,
    ) -> None:
        """`static_pages`: a dict kept by a caller that makes an engine per hop, one per tree version
        and screen limit, so static screens are rendered once (the engine fills it)."""
        self.tree = tree
        self.run_action = run_action
        self.screen_limit = screen_limit
        self.max_tries = max_tries
        self.today = today
        self._static_pages: StaticPages = {} if static_pages is None else static_pages

    # -- public API -------------------------------------------------------------------------
    def new_state(self, lang: str) -> SessionState:
        return SessionState(tree_id=self.tree.id, version=self.tree.version, node=self.tree.start, lang=lang)

    def start(self, state: SessionState) -> StepResult:
        """The first screen of a session. A tree's `on_start` action runs first, once: its data
        join the answers (e.g. the caller's audience and first name); its failure is ignored."""
        effects: list[Effect] = []
        if self.tree.on_start:
            result = self._call(self.tree.on_start, {}, state)
            for key, value in result.data.items():
                if isinstance(value, str | int | float) and not isinstance(value, bool):
                    state.answers[key] = str(value)
            effects.extend(result.effects)
        return self._result(self._enter(state, self.tree.start, effects), effects, HopOutcome.START, state)

    def current(self, state: SessionState, notice: str | None = None) -> Screen:
        """Render the node the session is on again, e.g. after resuming a dropped session."""
        return self._render(state, notice)

    def step(self, state: SessionState, key: str) -> StepResult:
        """Apply one key press to `state` (mutated in place) and return the next screen."""
        effects: list[Effect] = []
        node = self.tree.node(state.node)
        if key == KEY_HOME:
            state.stack.clear()
            return self._result(self._enter(state, self.tree.start, effects), effects, HopOutcome.HOME, state)
        if key == KEY_BACK:
            if state.page > 0:
                state.page -= 1
                return self._result(self._render(state), effects, HopOutcome.BACK, state)
            target = state.stack.pop() if state.stack else self.tree.start
            return self._result(self._enter(state, target, effects), effects, HopOutcome.BACK, state)
        pages = self._pages(state)
        if key == KEY_MORE and state.page < len(pages) - 1:
            state.page += 1
            return self._result(self._render(state), effects, HopOutcome.MORE, state)

        if node.kind == "menu":
            index = _choice(key, len(node.options))
            audience = self.tree.audience(state.answers)
            if index is None or not node.options[index].shown_to(audience):
                if self._shortcut(node, key):
                    return self._take_shortcut(node, state, key, effects)
                return self._invalid(state, "invalid", effects)
            option = node.options[index]
            if node.store:
                state.answers[node.store] = option.value or str(index + 1)
            if option.set_language:
                state.lang = option.set_language
                effects.append(SetLanguage(option.set_language))
            self._push(state, node.id)
            return self._result(self._enter(state, option.next, effects), effects, HopOutcome.OPTION, state)

        if node.kind == "list":
            index = _choice(key, len(state.items))
            if index is None and self._shortcut(node, key):
                return self._take_shortcut(node, state, key, effects)
            if index is None or node.store is None or node.next is None:
                return self._invalid(state, "invalid", effects)
            item = state.items[index]
            state.answers[node.store] = str(item["id"])
            state.answers[f"{node.store}_label"] = _label(item, state.lang)
            for name, value in dict(item.get("data") or {}).items():
                state.answers[str(name)] = str(value)
            self._push(state, node.id)
            return self._result(self._enter(state, node.next, effects), effects, HopOutcome.OPTION, state)

        if node.kind == "input" and node.input and node.store and node.next:
            checked = check_input(node.input, key, state.answers, self.today())
            if not checked.ok:
                error = checked.error or "invalid"
                if error == "custom" and node.input.error:
                    return self._invalid(state, None, effects, node.input.error[state.lang])
                return self._invalid(state, error, effects)
            state.answers[node.store] = checked.value or ""
            if node.sensitive and node.store not in state.secrets:
                state.secrets.append(node.store)
            self._push(state, node.id)
            return self._result(self._enter(state, node.next, effects), effects, HopOutcome.INPUT, state)

        # A paged END screen accepts only navigation keys.
        return self._invalid(state, "invalid", effects)

    # -- internals --------------------------------------------------------------------------
    @staticmethod
    def _shortcut(node: Node, key: str) -> bool:
        shortcut = node.shortcut
        return shortcut is not None and _compiled(shortcut.pattern).fullmatch(key.strip()) is not None

    def _take_shortcut(self, node: Node, state: SessionState, key: str, effects: list[Effect]) -> StepResult:
        assert node.shortcut is not None
        state.answers[node.shortcut.store] = key.strip()
        self._push(state, node.id)
        screen = self._enter(state, node.shortcut.next, effects)
        return self._result(screen, effects, HopOutcome.OPTION, state)

    def _result(
        self, screen: Screen, effects: list[Effect], outcome: HopOutcome, state: SessionState
    ) -> StepResult:
        state.done = screen.final
        return StepResult(screen=screen, effects=tuple(effects), outcome=outcome, node=state.node)

    def _push(self, state: SessionState, node_id: str) -> None:
        state.stack.append(node_id)
        if len(state.stack) > MAX_STACK:
            del state.stack[0]

    def _invalid(
        self, state: SessionState, error_key: str | None, effects: list[Effect], message: str | None = None
    ) -> StepResult:
        state.tries += 1
        if state.tries >= self.max_tries:
            state.stack.clear()
            notice = self.tree.string("too_many_tries", state.lang)
            self._enter(state, self.tree.start, effects)
            return self._result(self._render(state, notice), effects, HopOutcome.INVALID, state)
        notice = message or self.tree.string(error_key or "invalid", state.lang)
        return self._result(self._render(state, notice), effects, HopOutcome.INVALID, state)

    def _run(self, node: Node, state: SessionState) -> ActionResult:
        return self._call(node.action or "", node.params, state)

    def _call(self, action: str, node_params: Mapping[str, Any], state: SessionState) -> ActionResult:
        params: dict[str, Any] = {**state.answers, **node_params}
        try:
            return self.run_action(action, params, state.lang)
        except Exception as exc:  # a runner bug must not become a stack trace on a phone
            return ActionResult(ok=False, error=f"action {action} raised {type(exc).__name__}")

    def _enter(self, state: SessionState, node_id: str, effects: list[Effect], depth: int = 0) -> Screen:
        node = self.tree.node(node_id)
        state.node, state.page, state.tries = node_id, 0, 0
        if node.kind != "list":
            state.items = []
        if node.kind == "action":
            if depth >= MAX_ACTION_CHAIN:
                return self._unavailable(state)
            result = self._run(node, state)
            self._absorb(state, result, effects)
            target = node.next if result.ok else self._failure_target(node, result)
            return self._enter(state, target or self.tree.start, effects, depth + 1)
        if node.kind == "list":
            result = self._run(node, state)
            if not result.ok:
                self._absorb(state, result, effects)
                target = self._failure_target(node, result)
                if target:
                    return self._enter(state, target, effects, depth + 1)
                return self._unavailable(state)
            items = list(result.data.get("items", []))[:MAX_LIST_ITEMS]
            if not items and node.empty:
                return self._enter(state, node.empty, effects, depth + 1)
            state.items = items
        return self._render(state)

    @staticmethod
    def _failure_target(node: Node, result: ActionResult) -> str | None:
        return node.errors.get(result.error or "", node.failure)

    @staticmethod
    def _absorb(state: SessionState, result: ActionResult, effects: list[Effect]) -> None:
        """Scalars of an action's data join the answers (placeholders can show them); its
        effects join the step's; a failure leaves its reason under `error`."""
        for key, value in result.data.items():
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                state.answers[key] = str(value)
        effects.extend(result.effects)
        if not result.ok:
            state.answers["error"] = result.error or ""

    def _unavailable(self, state: SessionState) -> Screen:
        return Screen(self.tree.string("unavailable", state.lang), final=True)

    def _fill(self, text: str, state: SessionState) -> str:
        if "{" not in text:
            return text

        def value(match: re.Match[str]) -> str:
            key = match.group(1)
            if key in state.secrets:
                return "****"
            return state.answers.get(key, "")

        return _PLACEHOLDER.sub(value, text)

    def _pages(self, state: SessionState, notice: str | None = None) -> list[str]:
        node = self.tree.node(state.node)
        lang = state.lang
        audience = self.tree.audience(state.answers)
        text = node.text_for(audience)
        cacheable = notice is None and node.kind in ("menu", "end", "input") and "{" not in text.get(lang, "")
        varies = bool(node.audience_text) or any(o.audiences for o in node.options)
        cache_key = (f"{node.id}@{audience}" if varies else node.id, lang)
        if cacheable and cache_key in self._static_pages:
            return self._static_pages[cache_key]
        labels: list[str] = []
        numbers: list[int] | None = None
        if node.kind == "menu":
            shown = [(number, o) for number, o in enumerate(node.options, 1) if o.shown_to(audience)]
            labels = [o.label[lang] for _, o in shown]
            numbers = [number for number, _ in shown]
        elif node.kind == "list":
            labels = [_cut(_label(item, lang), node.label_max) for item in state.items]
        nav = self.tree.string("nav", lang) if shows_nav(node.kind, node.id == self.tree.start) else ""
        pages = screen_pages(
            self._fill(text[lang], state),
            labels,
            nav=nav,
            more=self.tree.string("more", lang),
            limit=self.screen_limit,
            notice=notice,
            numbers=numbers,
        )
        if cacheable:
            self._static_pages[cache_key] = pages
        return pages

    def _render(self, state: SessionState, notice: str | None = None) -> Screen:
        node = self.tree.node(state.node)
        pages = self._pages(state, notice)
        state.page = min(state.page, len(pages) - 1)
        last = state.page == len(pages) - 1
        return Screen(pages[state.page], final=node.kind == "end" and last)


def _choice(key: str, count: int) -> int | None:
    if key.isascii() and key.isdigit() and len(key) <= 2:
        number = int(key)
        if 1 <= number <= count:
            return number - 1
    return None


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _cut(label: str, width: int | None) -> str:
    """A list label no wider than `width` (a cut one ends with a dot: GSM-7 has no ellipsis)."""
    if width is None or len(label) <= width:
        return label
    return label[: width - 1].rstrip() + "."


def _label(item: Mapping[str, Any], lang: str) -> str:
    label = item.get("label", "")
    if isinstance(label, Mapping):
        return str(label.get(lang) or label.get("en") or "")
    return str(label)
