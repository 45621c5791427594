"""What analytics needs to know about a menu tree: success END screens and the steps of a journey."""

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
    """END nodes a journey is meant to reach: every `end` node that no failure, empty or error route
    leads to (an account locked after wrong PINs is no success)."""
    failures = {t for node in tree.nodes.values() for t in (node.failure, node.empty) if t}
    failures |= {t for node in tree.nodes.values() for t in node.errors.values()}
    return {node.id for node in tree.nodes.values() if node.kind == "end" and node.id not in failures}


def goal_screens(tree: MenuTree) -> set[str]:
    """Screens marked `goal: true`: the journey is done there though the screen offers more (e.g.
    "Submitted… 1. Pay now"), so a citizen who leaves there completed it."""
    return {node.id for node in tree.nodes.values() if node.goal}


def _reaches(tree: MenuTree, start: str, members: set[str], goals: set[str], without: str | None) -> bool:
    seen, todo = {start}, [start]
    while todo:
        current = todo.pop()
        if current in goals:
            return True
        for target in tree.nodes[current].targets():
            if target in members and target != without and target not in seen:
                seen.add(target)
                todo.append(target)
    return False


def funnel_steps(tree: MenuTree, journey: str) -> list[str]:
    """The screens every citizen passes on the way through `journey`, in order: from the journey's
    entry, the screens on every road to its success END (or, without one, to its deepest screens).
    Retry screens and side branches (already registered, cancelled…) are not steps. A citizen who
    reached a step passed every step before it, so a funnel over these never goes up."""
    members = {n.id for n in tree.nodes.values() if n.journey == journey}
    if not members:
        return []
    order = depths(tree)
    # the nearest to the start; a screen before an action at the same depth (two doors into one
    # journey, e.g. "Track application" and "My applications": the one a citizen sees first)
    entry = min(members, key=lambda n: (order.get(n, 10**6), tree.nodes[n].kind == "action", n))
    reachable = {n for n in members if _reaches(tree, entry, members, {n}, None)}
    goals = reachable & (success_ends(tree) | goal_screens(tree))
    if not goals:
        deepest = max(order.get(n, -1) for n in reachable)
        goals = {n for n in reachable if order.get(n, -1) == deepest}
    steps = [n for n in reachable if n == entry or not _reaches(tree, entry, members, goals - {n}, without=n)]
    screens = [n for n in steps if tree.nodes[n].kind != "action"]
    return sorted(screens, key=lambda n: (order.get(n, 10**6), n))
