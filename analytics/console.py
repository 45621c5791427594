"""`/console/analytics`: the operator's pages, rendered on the server with inline SVG charts."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from analytics import charts, queries
from analytics.access import require_operator
from analytics.api import filters_from, report

bp = Blueprint("analytics_console", __name__, url_prefix="/console/analytics", template_folder="templates")


def _choices() -> dict:
    with current_app.extensions["database"].session() as db:
        versions = queries.versions(db)
    return {"versions": versions, "args": request.args}


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
        steps = [r for r in funnel_rows if r["journey"] == journey]
        items = [
            (r["node"] or r["kind"], r["sessions"], f"{r['sessions']} ({r['share_of_entered']:.0%})")
            for r in steps
        ]
        funnels[journey] = charts.bars(items, f"{journey} funnel")
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
        **_choices(),
    )


@bp.get("/dropoff")
@require_operator
def dropoff() -> str:
    filters = filters_from(request.args)
    trees = current_app.extensions["trees"]
    tree_id = filters.tree or next((t.id for t in trees.trees()), None)
    tree = None
    if tree_id:
        tree = (trees.version(tree_id, filters.version) if filters.version else None) or trees.current(
            tree_id
        )
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
    heat = charts.heat_map(tree, shown, f"Drop-off on {tree.id}") if tree else None
    return render_template(
        "analytics/dropoff.html",
        filters=filters,
        tree=tree,
        heat_map=heat,
        rows=sorted(shown, key=lambda r: -r["dropoff_rate"]),
        **_choices(),
    )
