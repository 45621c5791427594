"""The tree as a graph for drawing: every node with its screen text, every link with its kind and
label, and which nodes a citizen can reach. The browser lays it out (dagre) and draws it.

Reachability comes from `menus.validator.reachable`, the validator's own rule, so the graph and the
problem list never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from menus.model import LANGUAGES
from menus.render import shorten
from menus.validator import links, reachable

TITLE_CHARS = 30
EDGE_LABEL_CHARS = 16


def _title(node: Mapping[str, Any]) -> str:
    """The first line of the node's English screen text, shortened; an action shows its name."""
    if node.get("kind") == "action":
        return f"⚙ {node.get('action') or 'action'}"
    text = node.get("text") if isinstance(node.get("text"), Mapping) else {}
    first = str(text.get("en") or text.get("sw") or "").strip().split("\n")[0]
    return shorten(first, TITLE_CHARS) if first else "(no text)"


def _texts(node: Mapping[str, Any]) -> dict[str, str]:
    text = node.get("text") if isinstance(node.get("text"), Mapping) else {}
    return {lang: str(text.get(lang) or "") for lang in LANGUAGES}


def _option_label(node: Mapping[str, Any], number: int) -> str:
    options = node.get("options") if isinstance(node.get("options"), list) else []
    option = options[number - 1] if number <= len(options) else {}
    label = option.get("label") if isinstance(option, Mapping) else None
    english = str(label.get("en") or "") if isinstance(label, Mapping) else ""
    return shorten(f"{number} {english}".strip(), EDGE_LABEL_CHARS)


def graph(document: Mapping[str, Any], problems: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Nodes and edges of `document` (which may be half-edited), for the console's graph.

    Node: id, kind, title, text (en/sw), journey, start, reachable, errors and warnings (counts).
    Edge: from, to, kind (option, next, failure, error, empty), label, dangling (target missing).
    """
    nodes = document.get("nodes") if isinstance(document.get("nodes"), Mapping) else {}
    reached = reachable(document)
    counts: dict[str, dict[str, int]] = {}
    for problem in problems or []:
        if problem.get("node"):
            tally = counts.setdefault(problem["node"], {"error": 0, "warning": 0})
            severity = problem.get("severity", "error")
            tally[severity if severity in tally else "error"] += 1
    out_nodes, out_edges = [], []
    for node_id, raw in nodes.items():
        raw = raw if isinstance(raw, Mapping) else {}
        tally = counts.get(node_id, {"error": 0, "warning": 0})
        out_nodes.append(
            {
                "id": node_id,
                "kind": str(raw.get("kind", "?")),
                "title": _title(raw),
                "text": _texts(raw),
                "journey": raw.get("journey"),
                "start": node_id == document.get("start"),
                "reachable": node_id in reached,
                "errors": tally["error"],
                "warnings": tally["warning"],
            }
        )
        for link in links(raw):
            label = _option_label(raw, int(link.label)) if link.kind == "option" else link.label
            out_edges.append(
                {
                    "from": node_id,
                    "to": link.target,
                    "kind": link.kind,
                    "label": label,
                    "dangling": link.target not in nodes,
                }
            )
    return {"start": document.get("start"), "nodes": out_nodes, "edges": out_edges}
