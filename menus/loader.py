"""Turn a tree document (YAML text or a dict) into a `MenuTree`, or explain why it can't."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from menus.model import InputSpec, MenuTree, Node, Option, Shortcut
from menus.render import shorten
from menus.schema import TREE_SCHEMA
from menus.strings import BUILTIN_STRINGS


@dataclass(frozen=True)
class TreeProblem:
    """One thing wrong with a tree, located at a node where possible."""

    message: str
    node: str | None = None
    path: str = ""
    # "error" blocks publishing; "warning" is shown at the node but does not.
    severity: str = "error"

    def __str__(self) -> str:
        where = f"node '{self.node}'" if self.node else (self.path or "tree")
        return f"{where}: {self.message}"


class TreeError(ValueError):
    """A tree document that cannot be loaded; `problems` lists every reason found."""

    def __init__(self, problems: list[TreeProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@lru_cache(maxsize=1)
def _schema_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(TREE_SCHEMA)


def content_version(document: dict[str, Any]) -> str:
    """A short, stable hash of a tree's content: equal content, equal version."""
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


# libyaml's parser when the wheel has it: the same documents, about ten times faster than pure Python.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> dict[str, Any]:
    try:
        document = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise TreeError([TreeProblem(f"not valid YAML: {exc}")]) from None
    if not isinstance(document, dict):
        raise TreeError([TreeProblem("a tree must be a mapping with id, title, service_codes, start, nodes")])
    return document


def _shown(value: Any) -> str:
    """A value as a message may quote it: never a whole long text."""
    if isinstance(value, str):
        return repr(shorten(value, 40))
    text = json.dumps(value, ensure_ascii=False, default=str)
    return shorten(text, 60)


def _schema_message(error: jsonschema.ValidationError) -> str:
    """A schema error in words an operator can act on: the limit stated, long texts shortened."""
    kind, limit, value = error.validator, error.validator_value, error.instance
    if kind == "maxLength" and isinstance(value, str):
        return f"is too long: {len(value):,} characters, the limit is {limit:,} ({_shown(value)})"
    if kind == "maxItems" and isinstance(value, list):
        return f"has {len(value)} items, the limit is {limit}"
    if kind == "enum":
        return f"{_shown(value)} is not one of {', '.join(map(str, limit))}"
    if kind == "pattern" and isinstance(value, str):
        return f"{_shown(value)} does not match {limit}"
    if len(error.message) > 160:
        return error.message.replace(repr(value), _shown(value))[:200]
    return error.message


def schema_problems(document: dict[str, Any]) -> list[TreeProblem]:
    """Every schema error of `document` (not only the first), located at its node."""
    problems = []
    for error in sorted(_schema_validator().iter_errors(document), key=lambda e: list(map(str, e.path))):
        path = list(error.path)
        node = path[1] if len(path) >= 2 and path[0] == "nodes" else None
        problems.append(
            TreeProblem(
                _schema_message(error), node=str(node) if node else None, path="/".join(map(str, path))
            )
        )
    return problems


def _input_spec(raw: dict[str, Any] | None) -> InputSpec | None:
    if raw is None:
        return None
    return InputSpec(**raw)


def _option(raw: dict[str, Any]) -> Option:
    return Option(**{**raw, "audiences": tuple(raw.get("audiences", ()))})


def build_tree(document: dict[str, Any]) -> MenuTree:
    """Check `document` against the schema and compile it. Semantic checks live in `validator`."""
    problems = schema_problems(document)
    if problems:
        raise TreeError(problems)
    nodes: dict[str, Node] = {}
    for node_id, raw in document["nodes"].items():
        spec = _input_spec(raw.get("input"))
        nodes[node_id] = Node(
            id=node_id,
            kind=raw["kind"],
            text=dict(raw.get("text", {})),
            options=tuple(_option(o) for o in raw.get("options", ())),
            input=spec,
            action=raw.get("action"),
            store=raw.get("store"),
            next=raw.get("next"),
            failure=raw.get("failure"),
            errors=dict(raw.get("errors", {})),
            empty=raw.get("empty"),
            sensitive=bool(raw.get("sensitive", False)) or bool(spec and spec.sensitive),
            journey=raw.get("journey"),
            params=dict(raw.get("params", {})),
            audience_text={k: dict(v) for k, v in raw.get("audience_text", {}).items()},
            shortcut=Shortcut(**raw["shortcut"]) if "shortcut" in raw else None,
            label_max=raw.get("label_max"),
        )
    strings = {**BUILTIN_STRINGS, **{k: dict(v) for k, v in document.get("strings", {}).items()}}
    return MenuTree(
        id=document["id"],
        version=content_version(document),
        title=document["title"],
        service_codes=tuple(document["service_codes"]),
        start=document["start"],
        nodes=nodes,
        strings=strings,
        source=document,
        on_start=document.get("on_start"),
        audiences=tuple(document.get("audiences", ())),
    )


def load_tree_file(path: Path) -> MenuTree:
    return build_tree(parse_yaml(path.read_text(encoding="utf-8")))


def tree_files(directory: Path) -> list[Path]:
    """Tree documents in `directory`; journey files (`*.journeys.yaml`) are not trees."""
    return sorted(p for p in directory.glob("*.yaml") if not p.name.endswith(".journeys.yaml"))
