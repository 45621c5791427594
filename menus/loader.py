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

from menus.model import InputSpec, MenuTree, Node, Option
from menus.schema import TREE_SCHEMA
from menus.strings import BUILTIN_STRINGS


@dataclass(frozen=True)
class TreeProblem:
    """One thing wrong with a tree, located at a node where possible."""

    message: str
    node: str | None = None
    path: str = ""

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


def schema_problems(document: dict[str, Any]) -> list[TreeProblem]:
    problems = []
    for error in sorted(_schema_validator().iter_errors(document), key=lambda e: list(e.path)):
        path = list(error.path)
        node = path[1] if len(path) >= 2 and path[0] == "nodes" else None
        problems.append(
            TreeProblem(error.message, node=str(node) if node else None, path="/".join(map(str, path)))
        )
    return problems


def _input_spec(raw: dict[str, Any] | None) -> InputSpec | None:
    if raw is None:
        return None
    return InputSpec(**raw)


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
            options=tuple(Option(**o) for o in raw.get("options", ())),
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
    )


def load_tree_file(path: Path) -> MenuTree:
    return build_tree(parse_yaml(path.read_text(encoding="utf-8")))


def tree_files(directory: Path) -> list[Path]:
    """Tree documents in `directory`; journey files (`*.journeys.yaml`) are not trees."""
    return sorted(p for p in directory.glob("*.yaml") if not p.name.endswith(".journeys.yaml"))
