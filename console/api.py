"""`/api/v1`: the menu API the console's JavaScript and operators' automation share (JSON only)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from console import auth
from console.diff import as_yaml, diff_documents
from console.graph import layout
from console.menu_store import (
    BadDraft,
    CheckReport,
    MenuStore,
    NotPublishable,
    PublishConflict,
    StaleDraft,
    UnknownTree,
    UnknownVersion,
    problem_json,
    version_summary,
)
from console.operators import OperatorError, create_operator, create_token, revoke_token
from console.simulator import measure_node, simulate
from records.operators import ApiToken

bp = Blueprint("menus_api", __name__, url_prefix="/api/v1")
MAX_NOTE = 500
# A whole tree travels in one PUT; the app's 64 KiB limit is sized for aggregator callbacks.
MAX_BODY = 1024 * 1024


@bp.before_request
def authenticate():
    request.max_content_length = MAX_BODY
    current_app.extensions["menu_store"].ensure_started()
    auth.load_actor()
    if not auth.csrf_ok():
        return auth.api_error(
            403, "csrf", "missing or wrong CSRF token: reload the page (or use an API token for automation)"
        )
    return None


@bp.errorhandler(UnknownTree)
def unknown_tree(exc: UnknownTree):
    return auth.api_error(404, "unknown_tree", f"no tree '{exc.args[0]}'")


@bp.errorhandler(UnknownVersion)
def unknown_version(exc: UnknownVersion):
    return auth.api_error(404, "unknown_version", str(exc))


@bp.errorhandler(StaleDraft)
def stale_draft(exc: StaleDraft):
    return auth.api_error(
        409,
        "stale_draft",
        str(exc),
        current_revision=exc.current_revision,
        updated_by=exc.updated_by,
        updated_at=exc.updated_at.isoformat(timespec="seconds") + "Z",
    )


@bp.errorhandler(PublishConflict)
def publish_conflict(exc: PublishConflict):
    return auth.api_error(409, "conflict", str(exc), tree_id=exc.tree_id)


@bp.errorhandler(BadDraft)
def bad_draft(exc: BadDraft):
    return auth.api_error(422, "bad_draft", str(exc))


@bp.errorhandler(NotPublishable)
def not_publishable(exc: NotPublishable):
    return auth.api_error(422, "not_publishable", str(exc), **_report_json(exc.report))


def _store() -> MenuStore:
    return current_app.extensions["menu_store"]


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequestBody()
    return body


class BadRequestBody(Exception):
    pass


@bp.errorhandler(BadRequestBody)
def bad_body(_exc: BadRequestBody):
    return auth.api_error(400, "bad_request", "send a JSON object (Content-Type: application/json)")


def _report_json(report: CheckReport) -> dict[str, Any]:
    journeys = report.journeys
    return {
        "ok": report.ok,
        "version": report.tree.version if report.tree else None,
        "problems": [problem_json(p) for p in report.problems],
        "journeys": {
            "ran": journeys is not None,
            "passed": journeys.passed if journeys else [],
            "failures": [
                {"journey": f.journey, "step": f.step, "message": f.message, "screen": f.screen}
                for f in (journeys.failures if journeys else [])
            ],
        },
    }


def _draft_json(tree_id: str) -> dict[str, Any]:
    store = _store()
    draft = store.draft(tree_id)
    report = store.check(draft.document, run_tests=False)
    live = store.live(tree_id)
    return {
        "tree_id": tree_id,
        "revision": draft.revision,
        "updated_by": draft.updated_by,
        "updated_at": draft.updated_at.isoformat(timespec="seconds") + "Z" if draft.updated_at else None,
        "document": draft.document,
        "journeys": draft.journeys,
        "screen_limit": store.screen_limit,
        "live_version": live.version if live else None,
        "draft_version": report.tree.version if report.tree else None,
        "problems": [problem_json(p) for p in report.problems],
        "layout": layout(draft.document if isinstance(draft.document, dict) else {}),
    }


def _document_to_check(tree_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The unsaved document/journeys in the body if given, else the saved draft's."""
    draft = _store().draft(tree_id)
    document = body.get("document", draft.document)
    journeys = body.get("journeys", draft.journeys)
    return document, journeys


# -- trees and drafts -------------------------------------------------------------------------
@bp.get("/menus")
@auth.requires("viewer")
def list_trees():
    return jsonify(trees=_store().summaries())


@bp.get("/menus/<tree_id>/draft")
@auth.requires("viewer")
def get_draft(tree_id: str):
    return jsonify(_draft_json(tree_id))


@bp.put("/menus/<tree_id>/draft")
@auth.requires("editor")
def put_draft(tree_id: str):
    body = _body()
    revision = body.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool):
        return auth.api_error(400, "bad_request", "send the draft's 'revision' you edited (an integer)")
    if "document" not in body:
        return auth.api_error(400, "bad_request", "send the whole tree as 'document'")
    _store().save_draft(tree_id, g.actor, revision, body["document"], body.get("journeys"))
    return jsonify(_draft_json(tree_id))


@bp.post("/menus/<tree_id>/draft/validate")
@auth.requires("viewer")
def validate_draft(tree_id: str):
    document, _ = _document_to_check(tree_id, request.get_json(silent=True) or {})
    report = _store().check(document, run_tests=False)
    body = _report_json(report)
    body["layout"] = layout(document if isinstance(document, dict) else {})
    return jsonify(body)


@bp.post("/menus/<tree_id>/draft/test")
@auth.requires("viewer")
def test_draft(tree_id: str):
    document, journeys = _document_to_check(tree_id, request.get_json(silent=True) or {})
    report = _store().check(document, journeys)
    return jsonify(_report_json(report))


@bp.post("/menus/<tree_id>/draft/simulate")
@auth.requires("viewer")
def simulate_draft(tree_id: str):
    """Body: `{"keys": ["7", "1"], "lang": "en"}` (+ optional unsaved `document`)."""
    body = _body()
    keys = body.get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str | int) for k in keys):
        return auth.api_error(
            400, "bad_request", '\'keys\' must be a list of the keys pressed, e.g. ["7", "1"]'
        )
    document, journeys = _document_to_check(tree_id, body)
    store = _store()
    report = store.check(document, run_tests=False)
    if report.tree is None:
        return auth.api_error(
            422,
            "not_simulable",
            "the draft does not load; fix these first",
            [problem_json(p) for p in report.problems],
        )
    result = simulate(
        report.tree, [str(k) for k in keys], str(body.get("lang", "en")), store.screen_limit, journeys
    )
    result["problems"] = [problem_json(p) for p in report.problems]
    return jsonify(result)


@bp.post("/menus/<tree_id>/draft/measure")
@auth.requires("viewer")
def measure(tree_id: str):
    """Body: `{"node_id": "main", "node": {...}}`: the pages that node makes in each language."""
    body = _body()
    node = body.get("node")
    if not isinstance(node, dict) or not isinstance(body.get("node_id"), str):
        return auth.api_error(400, "bad_request", "send 'node_id' and the edited 'node'")
    document = body.get("document") or _store().draft(tree_id).document
    return jsonify(measure_node(document, body["node_id"], node, _store().screen_limit))


# -- publishing -------------------------------------------------------------------------------
def _note(body: dict[str, Any]) -> str:
    return str(body.get("note", "")).strip()[:MAX_NOTE]


@bp.post("/menus/<tree_id>/publish")
@auth.requires("publisher")
def publish(tree_id: str):
    """Body: `{"note": "why", "revision": 7}`; the optional `revision` refuses to publish unseen edits."""
    body = request.get_json(silent=True) or {}
    revision = body.get("revision")
    version = _store().publish(tree_id, g.actor, _note(body), revision if isinstance(revision, int) else None)
    return jsonify(tree_id=tree_id, live=True, **version_summary(version)), 201


@bp.post("/menus/<tree_id>/rollback")
@auth.requires("publisher")
def rollback(tree_id: str):
    """Body: `{"version": "<hash or number>", "note": "why"}`."""
    body = _body()
    ref = str(body.get("version", "")).strip()
    if not ref:
        return auth.api_error(400, "bad_request", "send the 'version' to roll back to (hash or number)")
    version = _store().rollback(tree_id, g.actor, ref, _note(body))
    return jsonify(tree_id=tree_id, live=True, **version_summary(version)), 201


@bp.get("/menus/<tree_id>/versions")
@auth.requires("viewer")
def versions(tree_id: str):
    return jsonify(_store().history(tree_id))


@bp.get("/menus/<tree_id>/versions/<ref>")
@auth.requires("viewer")
def get_version(tree_id: str, ref: str):
    version = _store().version(tree_id, ref)
    return jsonify(
        tree_id=tree_id, document=version.document, yaml=as_yaml(version.document), **version_summary(version)
    )


@bp.get("/menus/<tree_id>/diff")
@auth.requires("viewer")
def diff(tree_id: str):
    """`?from=<ref>&to=<ref>`; a ref is a version hash, a number, `live` or `draft` (default live → draft)."""
    store = _store()

    def resolve(ref: str) -> tuple[dict[str, Any], str]:
        if ref == "draft":
            draft = store.draft(tree_id)
            return draft.document, f"draft (revision {draft.revision})"
        version = store.version(tree_id, ref)
        return version.document, f"version {version.number} ({version.version})"

    old, old_name = resolve(request.args.get("from", "live"))
    new, new_name = resolve(request.args.get("to", "draft"))
    return jsonify(diff_documents(old, new, old_name, new_name))


# -- tokens and operators ---------------------------------------------------------------------
@bp.get("/tokens")
@auth.requires("viewer")
def list_tokens():
    database = current_app.extensions["database"]
    with database.session() as db:
        rows = db.scalars(select(ApiToken).where(ApiToken.operator_id == g.actor.id).order_by(ApiToken.id))
        tokens = [
            {
                "id": t.id,
                "name": t.name,
                "prefix": t.prefix,
                "created_at": t.created_at.isoformat(timespec="seconds") + "Z" if t.created_at else None,
                "revoked": t.revoked_at is not None,
            }
            for t in rows
        ]
    return jsonify(tokens=tokens)


@bp.post("/tokens")
@auth.requires("viewer")
def new_token():
    body = request.get_json(silent=True) or {}
    with current_app.extensions["database"].session() as db:
        row, token = create_token(db, g.actor, str(body.get("name", "api")))
    return jsonify(
        id=row.id, name=row.name, token=token, message="copy the token now: it is not shown again"
    ), 201


@bp.delete("/tokens/<int:token_id>")
@auth.requires("viewer")
def delete_token(token_id: int):
    with current_app.extensions["database"].session() as db:
        if not revoke_token(db, g.actor, token_id):
            return auth.api_error(404, "unknown_token", "no such token of yours")
    return jsonify(revoked=token_id)


@bp.post("/operators")
@auth.requires("admin")
def new_operator():
    """Body: `{"email", "password", "role"}` (admin only)."""
    body = _body()
    try:
        with current_app.extensions["database"].session() as db:
            operator = create_operator(
                db,
                str(body.get("email", "")),
                str(body.get("password", "")),
                str(body.get("role", "")),
                g.actor,
            )
            created = {"id": operator.id, "email": operator.email, "role": operator.role}
    except OperatorError as exc:
        return auth.api_error(422, "bad_operator", str(exc))
    return jsonify(created), 201
