"""Inline SVG charts for the console: no JavaScript, no CDN, readable without colour (labels)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from menus.render import shorten

PALETTE = ("#2b6cb0", "#38a169", "#dd6b20", "#c53030", "#6b46c1")


def _svg(width: int, height: int, body: list[str], title: str) -> Markup:
    return Markup(  # noqa: S704 - every text inside was escaped by the caller of escape()
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'style="max-width:100%;height:auto" '
        f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="12">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def bars(
    items: Sequence[tuple[str, float, str]], title: str, width: int = 460, label_width: int = 130
) -> Markup:
    """Horizontal bars: (label, value, value text) each; for funnels, ratings, error rates. Labels
    longer than the label column are shortened (the whole label is the bar's tooltip)."""
    row, label_w = 26, label_width
    fits = max(int(label_w / 6.6), 8)
    peak = max((value for _, value, _ in items), default=0) or 1
    body = []
    for i, (label, value, text) in enumerate(items):
        y = i * row + 4
        length = (width - label_w - 90) * value / peak
        body.append(
            f"<g><title>{escape(label)}: {escape(text)}</title>"
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(shorten(label, fits))}</text>'
            f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{row - 8}" fill="{PALETTE[0]}"/>'
            f'<text x="{label_w + length + 6:.1f}" y="{y + 15}">{escape(text)}</text></g>'
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
