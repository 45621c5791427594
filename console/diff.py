"""Differences between two tree documents: a unified diff of their YAML and which nodes changed."""

from __future__ import annotations

import difflib
from typing import Any

import yaml


def as_yaml(document: dict[str, Any]) -> str:
    """The document as an operator would read it in menus/trees/ (key order kept)."""
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


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
