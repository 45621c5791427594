"""Inline SVG charts for the console: no JavaScript, no CDN, readable without colour (labels)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

from analytics.graph import layout
from menus.model import MenuTree

PALETTE = ("#2b6cb0", "#38a169", "#dd6b20", "#c53030", "#6b46c1")


def _svg(width: int, height: int, body: list[str], title: str) -> Markup:
    return Markup(  # noqa: S704 - every text inside was escaped by the caller of escape()
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'style="max-width:100%;height:auto" '
        f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="12">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def bars(items: Sequence[tuple[str, float, str]], title: str, width: int = 460) -> Markup:
    """Horizontal bars: (label, value, value text) each; for funnels, ratings, error rates."""
    row, label_w = 26, 130
    peak = max((value for _, value, _ in items), default=0) or 1
    body = []
    for i, (label, value, text) in enumerate(items):
        y = i * row + 4
        length = (width - label_w - 90) * value / peak
        body.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{row - 8}" fill="{PALETTE[0]}"/>'
            f'<text x="{label_w + length + 6:.1f}" y="{y + 15}">{escape(text)}</text>'
        )
    return _svg(width, max(len(items), 1) * row + 8, body, title)


def columns(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float], str]],
    title: str,
    width: int = 640,
) -> Markup:
    """Grouped columns per label (e.g. per day: started and completed), with a legend.

    `series` is (name, one value per label, colour) each."""
    height, top, bottom, left = 220, 24, 40, 40
    peak = max((v for _, values, _ in series for v in values), default=0) or 1
    group = (width - left - 10) / max(len(labels), 1)
    bar = min(max(group / (len(series) + 1), 1), 36)
    body = [f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="#999"/>']
    body.append(f'<text x="4" y="{top + 4}">{peak:g}</text>')
    for s, (name, values, colour) in enumerate(series):
        body.append(f'<rect x="{left + s * 120}" y="4" width="10" height="10" fill="{colour}"/>')
        body.append(f'<text x="{left + s * 120 + 14}" y="13">{escape(name)}</text>')
        for i, value in enumerate(values):
            h = (height - top - bottom) * value / peak
            x = left + i * group + (group - bar * len(series)) / 2 + s * bar
            body.append(
                f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(labels[i])} {escape(name)}: {value:g}</title></rect>'
            )
    step = max(len(labels) // 8, 1)
    for i in range(0, len(labels), step):
        x = left + i * group + group / 2
        body.append(
            f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{escape(labels[i])}</text>'
        )
    return _svg(width, height, body, title)


def heat_colour(rate: float) -> str:
    """Green (no drop-off) through amber to red (everyone who got here left)."""
    hue = 120 * (1 - min(max(rate, 0.0), 1.0))
    return f"hsl({hue:.0f}, 70%, 75%)"


def heat_map(tree: MenuTree, dropoff: Sequence[dict[str, Any]], title: str) -> Markup:
    """The menu graph, left to right by depth, each screen coloured by its drop-off rate."""
    positions, edges = layout(tree)
    by_node = {row["node"]: row for row in dropoff}
    box_w, box_h, gap_x, gap_y = 150, 44, 60, 14
    x_of = {n: 10 + c * (box_w + gap_x) for n, (c, _) in positions.items()}
    y_of = {n: 10 + r * (box_h + gap_y) for n, (_, r) in positions.items()}
    width = max(x_of.values(), default=0) + box_w + 20
    height = max(y_of.values(), default=0) + box_h + 20
    body = []
    for source, target in edges:
        body.append(
            f'<line x1="{x_of[source] + box_w}" y1="{y_of[source] + box_h / 2}" x2="{x_of[target]}" '
            f'y2="{y_of[target] + box_h / 2}" stroke="#bbb"/>'
        )
    for node_id in positions:
        row = by_node.get(node_id, {})
        rate, reached, dropped = row.get("dropoff_rate", 0.0), row.get("reached", 0), row.get("dropped", 0)
        detail = ", ".join(f"{r} {row.get(r, 0)}" for r in ("timeout", "invalid", "exit", "error"))
        x, y = x_of[node_id], y_of[node_id]
        fill = heat_colour(rate) if reached else "#eee"
        action = tree.nodes[node_id].kind == "action"  # passes straight through: never a screen
        figures = "action, not a screen" if action else f"{dropped}/{reached} left · {rate:.0%}"
        dash = ' stroke-dasharray="4 3"' if action else ""
        body.append(
            f"<g><title>{escape(node_id)}: reached {reached}, dropped {dropped} ({rate:.0%}); "
            f"{escape(detail)}</title>"
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="{fill}" '
            f'stroke="#666"{dash}/>'
            f'<text x="{x + 8}" y="{y + 18}" font-weight="bold">{escape(node_id[:20])}</text>'
            f'<text x="{x + 8}" y="{y + 35}">{escape(figures)}</text></g>'
        )
    return _svg(width, height, body, title)
