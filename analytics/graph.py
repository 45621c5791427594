"""What analytics needs to know about a menu tree: success END screens, journey steps, a layout."""

from __future__ import annotations

from collections import deque

from menus.model import MenuTree


def depths(tree: MenuTree) -> dict[str, int]:
    """Breadth-first distance of every reachable node from the start."""
    found = {tree.start: 0}
    queue = deque([tree.start])
    while queue:
        node_id = queue.popleft()
        for target in tree.nodes[node_id].targets():
            if target in tree.nodes and target not in found:
                found[target] = found[node_id] + 1
                queue.append(target)
    return found


def success_ends(tree: MenuTree) -> set[str]:
    """END nodes a journey is meant to reach: every `end` node that is not a failure or empty branch."""
    failures = {t for node in tree.nodes.values() for t in (node.failure, node.empty) if t}
    return {node.id for node in tree.nodes.values() if node.kind == "end" and node.id not in failures}


def journey_steps(tree: MenuTree, journey: str) -> list[str]:
    """The screens of one journey in the order a citizen meets them (action nodes never show)."""
    order = depths(tree)
    nodes = [n for n in tree.nodes.values() if n.journey == journey and n.kind != "action"]
    return [n.id for n in sorted(nodes, key=lambda n: (order.get(n.id, 999), n.id))]


def layout(tree: MenuTree) -> tuple[dict[str, tuple[int, int]], list[tuple[str, str]]]:
    """Column (depth) and row of each node, and the forward edges between them, for the heat map."""
    order = depths(tree)
    columns: dict[int, list[str]] = {}
    for node_id, depth in sorted(order.items(), key=lambda item: (item[1], list(tree.nodes).index(item[0]))):
        columns.setdefault(depth, []).append(node_id)
    positions = {node_id: (depth, row) for depth, ids in columns.items() for row, node_id in enumerate(ids)}
    edges = []
    for node_id in positions:
        for target in dict.fromkeys(tree.nodes[node_id].targets()):
            if target in positions and positions[target][0] > positions[node_id][0]:
                edges.append((node_id, target))
    return positions, edges
