"""`GET /api/v1/analytics/<report>`: JSON by default, `?format=csv` for a spreadsheet.

Filters on every report: `tree`, `version` (content hash or number), `lang`, `days` (default 30) or
`since`/`until` (ISO dates). `dropoff_split?by=version|network|lang` splits drop-off per screen.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from analytics import queries
from analytics.access import require_operator

bp = Blueprint("analytics_api", __name__, url_prefix="/api/v1/analytics")


def filters_from(args: Any) -> queries.Filters:
    """Filters from query arguments; bad values fall back to the defaults rather than failing."""
    now = queries.utcnow()
    try:
        days = min(max(int(args.get("days", 30)), 1), 3660)
    except ValueError:
        days = 30
    since = _date(args.get("since")) or now - timedelta(days=days)
    return queries.Filters(
        tree=args.get("tree") or None,
        version=_version(args.get("tree") or None, args.get("version") or None),
        lang=args.get("lang") or None,
        since=since,
        until=_date(args.get("until")),
        now=now,
    )


def _version(tree: str | None, version: str | None) -> str | None:
    """A version by number (`3`, `#3`) becomes its content hash; a hash passes as it is."""
    if not version or not version.lstrip("#").isdigit():
        return version
    number = int(version.lstrip("#"))
    with current_app.extensions["database"].session() as db:
        for (tree_id, content), found in queries.version_numbers(db).items():
            if found == number and (tree is None or tree_id == tree):
                return content
    return version


def _date(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def report(name: str, filters: queries.Filters, split: str = "version") -> list[dict[str, Any]]:
    """The rows of one report, read in one database session (`split`: for `dropoff_split`)."""
    trees = current_app.extensions["trees"]
    with current_app.extensions["database"].session() as db:
        readers: dict[str, Callable[[], list[dict[str, Any]]]] = {
            "summary": lambda: queries.summary(db, trees, filters),
            "sessions": lambda: queries.sessions_per_day(db, trees, filters),
            "dropoff": lambda: queries.dropoff(db, trees, filters),
            "funnels": lambda: queries.funnels(db, trees, filters),
            "sms": lambda: queries.sms(db, filters),
            "backend": lambda: queries.backend(db, filters),
            "feedback": lambda: queries.feedback(db, filters),
            "dropoff_split": lambda: queries.dropoff_split(db, trees, filters, split),
        }
        return readers[name]()


REPORTS = ("summary", "sessions", "dropoff", "dropoff_split", "funnels", "sms", "backend", "feedback")


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()


@bp.get("/<name>")
@require_operator
def analytics_report(name: str) -> Response | tuple[Response, int]:
    if name not in REPORTS:
        return jsonify(error="not_found", message=f"reports: {', '.join(REPORTS)}"), 404
    filters = filters_from(request.args)
    split = request.args.get("by", "version")
    if name == "dropoff_split" and split not in queries.SPLITS:
        return jsonify(error="bad_request", message=f"by: one of {', '.join(queries.SPLITS)}"), 400
    rows = report(name, filters, split)
    if request.args.get("format") == "csv":
        response = Response(to_csv(rows), mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="analytics-{name}.csv"'
        return response
    return jsonify(report=name, filters=filters.as_dict(), rows=rows)


@bp.get("")
@require_operator
def analytics_index() -> Response:
    return jsonify(reports=[f"/api/v1/analytics/{name}" for name in REPORTS])
