"""Differences between two tree documents: a unified diff of their YAML and which nodes changed."""

from __future__ import annotations

import difflib
from typing import Any

import yaml

TREE_ORDER = ("id", "title", "service_codes", "start", "strings", "nodes")
NODE_ORDER = ("kind", "journey", "text", "options", "input", "action", "params", "store", "next", "failure")
OPTION_ORDER = ("label", "next", "set_language")


def _ordered(mapping: Any, order: tuple[str, ...]) -> Any:
    """`mapping` with the keys in `order` first, then the rest sorted: the same text for the same tree,
    however a client happened to order its JSON."""
    if not isinstance(mapping, dict):
        return mapping
    keys = [k for k in order if k in mapping] + sorted(k for k in mapping if k not in order)
    return {k: mapping[k] for k in keys}


def canonical(document: dict[str, Any]) -> dict[str, Any]:
    tree = _ordered(document, TREE_ORDER)
    nodes = tree.get("nodes")
    if isinstance(nodes, dict):
        tree["nodes"] = {}
        for node_id, node in nodes.items():
            node = _ordered(node, NODE_ORDER)
            if isinstance(node, dict) and isinstance(node.get("options"), list):
                node["options"] = [_ordered(o, OPTION_ORDER) for o in node["options"]]
            tree["nodes"][node_id] = node
    return tree


def as_yaml(document: dict[str, Any]) -> str:
    """The document as an operator would read it in menus/trees/, in a canonical key order."""
    return yaml.safe_dump(canonical(document), sort_keys=False, allow_unicode=True, width=100)


def diff_documents(old: dict[str, Any], new: dict[str, Any], old_name: str, new_name: str) -> dict[str, Any]:
    old_nodes = old.get("nodes", {}) if isinstance(old.get("nodes"), dict) else {}
    new_nodes = new.get("nodes", {}) if isinstance(new.get("nodes"), dict) else {}
    unified = "".join(
        difflib.unified_diff(
            as_yaml(old).splitlines(keepends=True),
            as_yaml(new).splitlines(keepends=True),
            fromfile=old_name,
            tofile=new_name,
        )
    )
    settings = [k for k in sorted(set(old) | set(new)) if k != "nodes" and old.get(k) != new.get(k)]
    return {
        "from": old_name,
        "to": new_name,
        "unified": unified,
        "nodes": {
            "added": sorted(set(new_nodes) - set(old_nodes)),
            "removed": sorted(set(old_nodes) - set(new_nodes)),
            "changed": sorted(n for n in set(old_nodes) & set(new_nodes) if old_nodes[n] != new_nodes[n]),
        },
        "settings_changed": settings,
    }
