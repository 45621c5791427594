"""`/console/analytics`: the operator's pages inside the console (same navigation and login as the
menu editor). Charts are inline SVG rendered here; the drop-off heat map is the editor's own graph,
drawn in the browser from the tree and the figures this page embeds."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request

from analytics import charts, queries
from analytics.access import require_operator
from analytics.api import filters_from, report
from console.graph import graph

bp = Blueprint("analytics_console", __name__, url_prefix="/console/analytics", template_folder="templates")


def _choices(filters: queries.Filters) -> dict[str, Any]:
    """What the filter form offers: trees, versions by number (newest first), the chosen ones."""
    with current_app.extensions["database"].session() as db:
        numbers = queries.version_numbers(db)
        seen = queries.versions(db)
    trees = sorted({t for t, _ in seen} | {t.id for t in current_app.extensions["trees"].trees()})
    versions = sorted(
        ((tree_id, content, numbers.get((tree_id, content))) for tree_id, content in seen),
        key=lambda v: (v[0], -(v[2] or 0)),
    )
    return {
        "args": request.args,
        "trees": trees,
        "versions": versions,
        "numbers": numbers,
        "chosen_tree": _tree_id(filters),
    }


def _tree_id(filters: queries.Filters) -> str | None:
    trees = current_app.extensions["trees"]
    return filters.tree or next((t.id for t in trees.trees()), None)


def version_name(numbers: dict, tree_id: str | None, content: str | None) -> str:
    """ "#3" for a version the console published; the short hash for one it never saw."""
    number = numbers.get((tree_id or "", content or ""))
    return f"#{number}" if number else (content or "–")


@bp.app_template_filter("version_name")
def _version_name_filter(content: str | None, tree_id: str | None, numbers: dict) -> str:
    return version_name(numbers, tree_id, content)


@bp.get("")
@require_operator
def overview() -> str:
    filters = filters_from(request.args)
    summary = report("summary", filters)
    per_day = report("sessions", filters)
    days = sorted({row["day"] for row in per_day})
    started = [sum(r["started"] for r in per_day if r["day"] == d) for d in days]
    completed = [sum(r["completed"] for r in per_day if r["day"] == d) for d in days]
    funnel_rows = report("funnels", filters)
    funnels = {}
    for journey in queries.JOURNEYS:
        rows = [r for r in funnel_rows if r["journey"] == journey]
        steps = [r for r in rows if r["kind"] != "branch"]
        items = [(r["label"], r["sessions"], f"{r['sessions']} ({r['share_of_entered']:.0%})") for r in steps]
        funnels[journey] = {
            "chart": charts.bars(items, f"{journey} funnel", label_width=230, width=560),
            "steps": steps,
            "branches": [r for r in rows if r["kind"] == "branch"],
        }
    sms = report("sms", filters)
    backend = report("backend", filters)
    feedback = report("feedback", filters)
    return render_template(
        "analytics/overview.html",
        filters=filters,
        summary=summary,
        sessions_chart=charts.columns(
            days, [("started", started, "#2b6cb0"), ("completed", completed, "#38a169")], "Sessions per day"
        ),
        funnels=funnels,
        sms=sms,
        sms_chart=charts.columns(
            [r["day"] for r in sms],
            [
                ("delivered", [r["delivered"] for r in sms], "#38a169"),
                ("failed", [r["failed"] for r in sms], "#c53030"),
            ],
            "SMS per day",
        ),
        backend=backend,
        backend_chart=charts.bars(
            [(r["operation"], r["error_rate"], f"{r['error_rate']:.1%} of {r['calls']}") for r in backend],
            "Core-service error rate",
        ),
        feedback=feedback,
        feedback_chart=charts.bars(
            [(r["service"], r["average"], f"{r['average']:.2f} ★ ({r['ratings']})") for r in feedback],
            "Average rating per service",
        ),
        **_choices(filters),
    )


@bp.get("/dropoff")
@require_operator
def dropoff() -> str:
    filters = filters_from(request.args)
    trees = current_app.extensions["trees"]
    tree_id = _tree_id(filters)
    tree = None
    if tree_id:
        pinned = trees.version(tree_id, filters.version) if filters.version else None
        tree = pinned or trees.current(tree_id)
    rows = report("dropoff", filters)
    shown = [r for r in rows if tree is not None and r["tree"] == tree.id]
    if tree is not None and not filters.version:
        # All versions together: add up each node's figures across versions of this tree.
        merged: dict[str, dict] = {}
        for row in shown:
            total = merged.setdefault(
                row["node"], dict.fromkeys(("reached", "dropped", *queries.DROP_REASONS), 0)
            )
            for key in total:
                total[key] += row[key]
        shown = [
            {"node": n, **t, "dropoff_rate": round(t["dropped"] / t["reached"], 4) if t["reached"] else 0.0}
            for n, t in merged.items()
        ]
    else:
        shown = [r for r in shown if r["version"] == tree.version] if tree else []
    for row in shown:
        row["label"] = queries.screen_label(tree, row["node"])
        row["colour"] = charts.heat_colour(row["dropoff_rate"])
    split = request.args.get("by", "version")
    split = split if split in queries.SPLITS else "version"
    split_filters = filters if filters.tree else queries.Filters(**{**filters.__dict__, "tree": tree_id})
    heat = {"graph": graph(tree.source), "rows": shown} if tree else None
    return render_template(
        "analytics/dropoff.html",
        filters=filters,
        tree=tree,
        heat=heat,
        rows=sorted(shown, key=lambda r: (-r["dropoff_rate"], -r["reached"])),
        split=split,
        split_rows=report("dropoff_split", split_filters, split) if tree else [],
        **_choices(filters),
    )
