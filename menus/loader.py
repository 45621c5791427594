"""Turn a tree document (YAML text or a dict) into a `MenuTree`, or explain why it can't."""

from __future__ import annotations

import hashlib
import json
import pickle
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


def load_yaml(text: str) -> Any:
    """`yaml.safe_load`, on libyaml when the wheel has it; raises `yaml.YAMLError`."""
    return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader


def read_yaml_file(path: Path) -> Any:
    """`load_yaml` of a file, each call a fresh copy. The same files are read at every app start
    and seed (the journeys file alone takes ~30 ms to parse); a file is parsed again whenever its
    size or modification time changes. Raises `yaml.YAMLError` and `OSError`."""
    stat = path.stat()
    return pickle.loads(_parsed_file(str(path), stat.st_mtime_ns, stat.st_size))  # noqa: S301 - our own bytes


@lru_cache(maxsize=16)
def _parsed_file(path: str, mtime_ns: int, size: int) -> bytes:
    return pickle.dumps(load_yaml(Path(path).read_text(encoding="utf-8")))


def parse_yaml(text: str) -> dict[str, Any]:
    try:
        document = load_yaml(text)
    except yaml.YAMLError as exc:
        raise TreeError([TreeProblem(f"not valid YAML: {exc}")]) from None
    return _tree_document(document)


def read_tree_file(path: Path) -> dict[str, Any]:
    """`parse_yaml` of a file, through `read_yaml_file`."""
    try:
        document = read_yaml_file(path)
    except yaml.YAMLError as exc:
        raise TreeError([TreeProblem(f"not valid YAML: {exc}")]) from None
    return _tree_document(document)


def _tree_document(document: Any) -> dict[str, Any]:
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


class _Document:
    """A document keyed by its `repr` (types kept: 1 and "1" differ), for the memo below; the key
    is taken once, so a later change to the dict never changes what was remembered for it."""

    __slots__ = ("document", "key")

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.key = repr(document)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Document) and other.key == self.key


def schema_problems(document: dict[str, Any]) -> list[TreeProblem]:
    """Every schema error of `document` (not only the first), located at its node."""
    return list(_schema_problems(_Document(document)))


# The same tree is checked again and again (every app start, seed, console validate, publish):
# jsonschema takes ~15 ms on the shipped tree, a repr and a lookup well under 1 ms.
@lru_cache(maxsize=32)
def _schema_problems(wrapped: _Document) -> tuple[TreeProblem, ...]:
    problems = []
    document = wrapped.document
    for error in sorted(_schema_validator().iter_errors(document), key=lambda e: list(map(str, e.path))):
        path = list(error.path)
        node = path[1] if len(path) >= 2 and path[0] == "nodes" else None
        problems.append(
            TreeProblem(
                _schema_message(error), node=str(node) if node else None, path="/".join(map(str, path))
            )
        )
    return tuple(problems)


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
            goal=bool(raw.get("goal", False)),
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
    return build_tree(read_tree_file(path))


def tree_files(directory: Path) -> list[Path]:
    """Tree documents in `directory`; journey files (`*.journeys.yaml`) are not trees."""
    return sorted(p for p in directory.glob("*.yaml") if not p.name.endswith(".journeys.yaml"))
