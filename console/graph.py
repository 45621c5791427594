"""Lay a tree out for drawing: columns by distance from the start node, one row per node in a column.

Done on the server so the browser only draws boxes and lines (no layout library, no build step).
"""

from __future__ import annotations

from typing import Any

COLUMN_WIDTH = 190
ROW_HEIGHT = 46
NODE_WIDTH = 160
NODE_HEIGHT = 32


def _targets(node: dict[str, Any]) -> list[tuple[str, str]]:
    """(target, edge label) pairs, tolerant of half-edited nodes."""
    found = []
    for number, option in enumerate(node.get("options") or [], 1):
        if isinstance(option, dict) and isinstance(option.get("next"), str):
            found.append((option["next"], str(number)))
    for key in ("next", "failure", "empty"):
        if isinstance(node.get(key), str):
            found.append((node[key], key if key != "next" else ""))
    return found


def layout(document: dict[str, Any]) -> dict[str, Any]:
    """Positions of every node and every edge (including edges to missing nodes, marked `dangling`)."""
    nodes = document.get("nodes") if isinstance(document.get("nodes"), dict) else {}
    start = document.get("start")
    depth: dict[str, int] = {}
    order: list[str] = []
    if start in nodes:
        depth[start] = 0
        queue = [start]
        while queue:
            current = queue.pop(0)
            order.append(current)
            raw = nodes[current] if isinstance(nodes[current], dict) else {}
            for target, _label in _targets(raw):
                if target in nodes and target not in depth:
                    depth[target] = depth[current] + 1
                    queue.append(target)
    deepest = max(depth.values(), default=-1)
    for node_id in nodes:  # unreachable nodes go in a column of their own, at the right
        if node_id not in depth:
            depth[node_id] = deepest + 1
            order.append(node_id)
    rows: dict[int, int] = {}
    placed = []
    for node_id in order:
        column = depth[node_id]
        row = rows.get(column, 0)
        rows[column] = row + 1
        raw = nodes[node_id] if isinstance(nodes[node_id], dict) else {}
        placed.append(
            {
                "id": node_id,
                "kind": raw.get("kind", "?"),
                "x": 10 + column * COLUMN_WIDTH,
                "y": 10 + row * ROW_HEIGHT,
                "reachable": node_id in depth and depth[node_id] <= deepest,
                "start": node_id == start,
            }
        )
    edges = []
    for node_id, raw in nodes.items():
        for target, label in _targets(raw if isinstance(raw, dict) else {}):
            edges.append({"from": node_id, "to": target, "label": label, "dangling": target not in nodes})
    return {
        "nodes": placed,
        "edges": edges,
        "width": 20 + (max(rows, default=0) + 1) * COLUMN_WIDTH,
        "height": 20 + max(rows.values(), default=1) * ROW_HEIGHT,
        "node_width": NODE_WIDTH,
        "node_height": NODE_HEIGHT,
    }
