"""The compiled form of a menu tree: what the engine walks and the validator checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LANGUAGES = ("en", "sw")
NODE_KINDS = ("menu", "input", "list", "action", "end")
INPUT_TYPES = ("digits", "text", "name", "regex", "date", "national_id", "pin", "amount")

# A translated text: one string per language code, every language in LANGUAGES present.
Text = dict[str, str]


@dataclass(frozen=True)
class Option:
    """One numbered choice of a menu node."""

    label: Text
    next: str
    set_language: str | None = None
    # Stored under the menu node's `store` when chosen (e.g. a rating); defaults to the option number.
    value: str | None = None
    # Shown only to these audiences of the tree (empty: to everyone). The option keeps its number
    # either way, so a number means the same thing to every caller of one tree version.
    audiences: tuple[str, ...] = ()

    def shown_to(self, audience: str | None) -> bool:
        return not self.audiences or audience in self.audiences


@dataclass(frozen=True)
class InputSpec:
    """How an input node checks what the citizen typed."""

    type: str
    min: int | None = None
    max: int | None = None
    pattern: str | None = None
    same_as: str | None = None
    min_age: int | None = None
    max_age: int | None = None
    error: Text | None = None

    @property
    def sensitive(self) -> bool:
        """PINs and national ID numbers never reach a log or a stored record in clear."""
        return self.type in ("pin", "national_id")


@dataclass(frozen=True)
class Shortcut:
    """A typed key that a menu or list takes besides its numbers: a key that is not one of the
    numbers shown and matches `pattern` is stored under `store`, and the citizen goes to `next`."""

    pattern: str
    store: str
    next: str


@dataclass(frozen=True)
class Node:
    id: str
    kind: str
    text: Text
    options: tuple[Option, ...] = ()
    input: InputSpec | None = None
    action: str | None = None
    store: str | None = None
    next: str | None = None
    failure: str | None = None
    # An action's error code -> the node to go to instead of `failure` (e.g. wrong_pin -> ask again).
    errors: dict[str, str] = field(default_factory=dict)
    empty: str | None = None
    sensitive: bool = False
    # Which journey funnel this node belongs to (register, apply, pay, track…), for analytics.
    journey: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    # The text for an audience of the tree, instead of `text` (e.g. a greeting by first name).
    audience_text: dict[str, Text] = field(default_factory=dict)
    shortcut: Shortcut | None = None
    # A list's labels are cut to this many characters, so a page holds a known number of items.
    label_max: int | None = None

    def text_for(self, audience: str | None) -> Text:
        return self.audience_text.get(audience or "", self.text)

    def targets(self) -> list[str]:
        """Every node id this node can lead to."""
        found = [o.next for o in self.options]
        found += [t for t in (self.next, self.failure, self.empty) if t]
        if self.shortcut:
            found.append(self.shortcut.next)
        found += list(self.errors.values())
        return found


@dataclass(frozen=True)
class MenuTree:
    """A validated tree at one version; `version` is a hash of its content."""

    id: str
    version: str
    title: str
    service_codes: tuple[str, ...]
    start: str
    nodes: dict[str, Node]
    strings: dict[str, Text]
    source: dict[str, Any]
    # Run once when a session opens, before the first screen (e.g. who is calling); its failure
    # is ignored, so the first screen never waits on it.
    on_start: str | None = None
    # Who a screen may differ for; a session's answer `audience` picks one, else the first.
    audiences: tuple[str, ...] = ()

    def audience(self, answers: dict[str, str]) -> str | None:
        """The audience of a session with these answers (None for a tree without audiences)."""
        chosen = answers.get("audience")
        if chosen in self.audiences:
            return chosen
        return self.audiences[0] if self.audiences else None

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def string(self, key: str, lang: str) -> str:
        return self.strings[key][lang]
