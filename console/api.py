"""`/api/v1`: the menu API the console's JavaScript and operators' automation share (JSON only)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify, request, session
from sqlalchemy import select

from common.phones import InvalidPhoneNumber, normalise_phone
from console import auth
from console.diff import as_yaml, diff_documents
from console.graph import graph
from console.measure import measure_node
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
from console.operators import (
    OperatorError,
    change_password,
    create_operator,
    create_token,
    deactivate_operator,
    revoke_token,
)
from console.passwords import PasswordsBusy
from console.releases import ReleaseConflict
from console.simulator import (
    LIVE,
    clean_recording,
    find_scenario,
    live_action_runner,
    scenario_runner,
    scenarios,
    simulate,
)
from menus.loader import TreeError, parse_yaml
from records.operators import ApiToken, Operator

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


@bp.errorhandler(ReleaseConflict)
def release_conflict(exc: ReleaseConflict):
    return auth.api_error(409, "release_conflict", str(exc))


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
        "problems": [problem_json(p) for p in report.problems + report.warnings],
        "journeys": {
            "ran": journeys is not None,
            "passed": journeys.passed if journeys else [],
            "failures": [
                {"journey": f.journey, "step": f.step, "message": f.message, "screen": f.screen}
                for f in (journeys.failures if journeys else [])
            ],
        },
    }


def _live_simulator_allowed() -> bool:
    return bool(current_app.extensions["settings"].console_live_simulator) and g.actor.can("editor")


def _draft_json(tree_id: str) -> dict[str, Any]:
    store = _store()
    draft = store.draft(tree_id)
    document = draft.document if isinstance(draft.document, dict) else {}
    report = store.check(document, run_tests=False)
    problems = [problem_json(p) for p in report.problems + report.warnings]
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
        "problems": problems,
        "graph": graph(document, problems),
        "scenarios": [s.as_json() for s in scenarios(draft.journeys, _live_simulator_allowed())],
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
    body["graph"] = graph(document if isinstance(document, dict) else {}, body["problems"])
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
    """Body: `{"keys": ["7", "1"], "lang": "en", "scenario": "<id>"}`, optionally the unsaved
    `document` and `journeys`, and for the live scenario `session_id`, `phone` and `recorded`."""
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
    available = scenarios(journeys, _live_simulator_allowed())
    scenario = find_scenario(available, body.get("scenario"))
    if scenario is None:
        return auth.api_error(
            400,
            "unknown_scenario",
            f"no scenario '{body.get('scenario')}'; choose one of the draft's scenarios",
        )
    recorded: list[dict[str, Any]] = []
    if scenario.id == LIVE:
        try:
            phone = normalise_phone(
                str(body.get("phone", "")), current_app.extensions["settings"].phone_regions
            )
        except InvalidPhoneNumber:
            return auth.api_error(400, "bad_phone", "give the test phone number as +2547XXXXXXXX")
        session_id = str(body.get("session_id") or "console-sim")[:64]
        runner = live_action_runner(session_id, phone)
        recorded = clean_recording(body.get("recorded"))
    else:
        runner = scenario_runner(scenario)
    result = simulate(
        report.tree, [str(k) for k in keys], str(body.get("lang", "en")), store.screen_limit, runner, recorded
    )
    result["scenario"] = scenario.as_json()
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


@bp.post("/menus/<tree_id>/draft/export")
@auth.requires("viewer")
def export_draft(tree_id: str):
    """The working copy in the body (or the saved draft) as YAML, in the seeds' key order."""
    document, _ = _document_to_check(tree_id, request.get_json(silent=True) or {})
    if not isinstance(document, dict):
        return auth.api_error(400, "bad_request", "'document' must be a tree (a JSON object)")
    return jsonify(tree_id=tree_id, yaml=as_yaml(document))


@bp.post("/menus/<tree_id>/draft/import")
@auth.requires("editor")
def import_draft(tree_id: str):
    """Body: `{"yaml": "<a tree file>"}` -> the document and its problems. Nothing is saved: the
    console loads it as an unsaved edit (and the draft's id must stay the same)."""
    text = _body().get("yaml")
    if not isinstance(text, str) or not text.strip():
        return auth.api_error(400, "bad_request", "send the tree file's text as 'yaml'")
    try:
        document = parse_yaml(text)
    except TreeError as exc:
        return auth.api_error(422, "bad_yaml", str(exc.problems[0].message)[:300])
    if document.get("id") != tree_id:
        return auth.api_error(
            422,
            "wrong_tree",
            f"that file is tree '{document.get('id')}', not '{tree_id}'; import it into its own tree",
        )
    report = _store().check(document, run_tests=False)
    problems = [problem_json(p) for p in report.problems + report.warnings]
    return jsonify(document=document, problems=problems, graph=graph(document, problems))


@bp.post("/menus/<tree_id>/draft/reset")
@auth.requires("editor")
def reset_draft(tree_id: str):
    """Body: `{"version": "<number or hash>", "revision": n}`: the draft becomes a copy of that version."""
    body = _body()
    revision = body.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool):
        return auth.api_error(400, "bad_request", "send the draft's 'revision' you are looking at")
    _store().reset_draft(tree_id, g.actor, str(body.get("version", "")).strip() or "live", revision)
    return jsonify(_draft_json(tree_id))


@bp.get("/session")
def who_am_i():
    """The logged-in operator and this session's CSRF token (for a page whose login expired and
    was renewed in another tab); 401 when not logged in."""
    if g.actor is None or g.via_token:
        return auth.api_error(401, "unauthorized", "log in again")
    return jsonify(email=g.actor.email, role=g.actor.role, csrf_token=auth.csrf_token())


# -- publishing -------------------------------------------------------------------------------
def _note(body: dict[str, Any]) -> str:
    return str(body.get("note", "")).strip()[:MAX_NOTE]


@bp.post("/menus/<tree_id>/publish")
@auth.requires("publisher")
def publish(tree_id: str):
    """Body: `{"note": "why", "revision": 7}`; the optional `revision` refuses to publish unseen edits."""
    body = request.get_json(silent=True) or {}
    if not _note(body):
        return auth.api_error(
            400, "note_required", "say in a note what changed and why: it goes into the history"
        )
    revision = body.get("revision")
    share = body.get("share", 100)
    if not isinstance(share, int) or isinstance(share, bool) or not 1 <= share <= 100:
        return auth.api_error(400, "bad_request", "'share' is the percentage of new sessions, 1 to 100")
    store = _store()
    version = store.publish(
        tree_id, g.actor, _note(body), revision if isinstance(revision, int) else None, share=share
    )
    if share < 100:
        return jsonify(
            tree_id=tree_id,
            live=False,
            share=share,
            release=store.releases.current(tree_id),
            **version_summary(version),
        ), 201
    return jsonify(tree_id=tree_id, live=True, share=100, **version_summary(version)), 201


@bp.get("/menus/<tree_id>/release")
@auth.requires("viewer")
def get_release(tree_id: str):
    """The running staged release with its live comparison (or the last one that ended), or null."""
    _store().draft(tree_id)  # 404 for an unknown tree
    return jsonify(release=_store().releases.current(tree_id))


@bp.post("/menus/<tree_id>/release/<outcome>")
@auth.requires("publisher")
def end_release(tree_id: str, outcome: str):
    """`promote` (the new version goes live for everyone) or `rollback` (new sessions get the live
    version again); body `{"note": "why"}`. The figures at that moment go to the audit trail."""
    ends = {"promote": "promoted", "rollback": "rolled_back"}
    if outcome not in ends:
        return auth.api_error(404, "not_found", "promote or rollback")
    body = request.get_json(silent=True) or {}
    if not _note(body):
        return auth.api_error(400, "note_required", "say in a note why: it goes into the history")
    _store().draft(tree_id)
    decision = _store().releases.end(tree_id, g.actor, ends[outcome], _note(body))
    return jsonify(release=_store().releases.current(tree_id), decision=decision)


@bp.post("/menus/<tree_id>/rollback")
@auth.requires("publisher")
def rollback(tree_id: str):
    """Body: `{"version": "<hash or number>", "note": "why"}`."""
    body = _body()
    ref = str(body.get("version", "")).strip()
    if not ref:
        return auth.api_error(400, "bad_request", "send the 'version' to roll back to (hash or number)")
    if not _note(body):
        return auth.api_error(
            400, "note_required", "say in a note why you roll back: it goes into the history"
        )
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
        tree_id=tree_id,
        document=version.document,
        yaml=as_yaml(version.document),
        graph=graph(version.document),
        **version_summary(version),
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
def _when(moment) -> str | None:
    return moment.isoformat(timespec="seconds") + "Z" if moment else None


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
                "scope": t.scope,
                "created_at": _when(t.created_at),
                "expires_at": _when(t.expires_at),
                "parent_id": t.parent_id,
                "revoked": t.revoked_at is not None,
            }
            for t in rows
        ]
    return jsonify(tokens=tokens)


@bp.post("/tokens")
@auth.requires("viewer")
def new_token():
    """Body: `{"name", "days" (default 90), "scope" (a role, default yours)}`. Minted with a token,
    the new one expires no later and acts no higher than it, and dies with it."""
    body = _body() if request.get_data(cache=True) else {}
    days = body.get("days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int)):
        return auth.api_error(400, "bad_request", "'days' must be a whole number of days")
    settings = current_app.extensions["settings"]
    try:
        with current_app.extensions["database"].session() as db:
            row, token = create_token(
                db,
                g.actor,
                str(body.get("name", "api")),
                days=days if days is not None else settings.api_token_days,
                scope=str(body["scope"]) if body.get("scope") else None,
                max_days=settings.api_token_max_days,
            )
            created = {
                "id": row.id,
                "name": row.name,
                "scope": row.scope,
                "expires_at": _when(row.expires_at),
                "token": token,
                "message": "copy the token now: it is not shown again",
            }
    except OperatorError as exc:
        return auth.api_error(422, "bad_token", str(exc))
    return jsonify(created), 201


@bp.delete("/tokens/<int:token_id>")
@auth.requires("viewer")
def delete_token(token_id: int):
    """Revoke a token of yours, and every token minted with it."""
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
                passwords=current_app.extensions["passwords"],
            )
            created = {"id": operator.id, "email": operator.email, "role": operator.role}
    except OperatorError as exc:
        return auth.api_error(422, "bad_operator", str(exc))
    except PasswordsBusy:
        return auth.api_error(503, "busy", "many password changes at once: try again in a few seconds")
    return jsonify(created), 201


@bp.post("/operators/me/password")
@auth.requires("viewer")
def change_my_password():
    """Body: `{"current_password", "new_password"}`; from a logged-in browser only, not a token.
    Every other console session of yours ends; this one carries on."""
    if g.get("via_token"):
        return auth.api_error(403, "forbidden", "log in to change your password; tokens cannot")
    body = _body()
    try:
        with current_app.extensions["database"].session() as db:
            operator = db.get(Operator, g.actor.id)
            change_password(
                db,
                current_app.extensions["passwords"],
                operator,
                str(body.get("new_password", "")),
                g.actor,
                current_password=str(body.get("current_password", "")),
            )
            auth.login(operator)  # this browser gets the new generation
    except OperatorError as exc:
        return auth.api_error(422, "bad_password", str(exc))
    except PasswordsBusy:
        return auth.api_error(503, "busy", "many password changes at once: try again in a few seconds")
    return jsonify(changed=True, csrf=session["csrf"])


@bp.post("/operators/<int:operator_id>/deactivate")
@auth.requires("admin")
def deactivate(operator_id: int):
    """Admin only: the operator can no longer log in; their sessions end and their tokens are revoked."""
    try:
        with current_app.extensions["database"].session() as db:
            operator = db.get(Operator, operator_id)
            if operator is None:
                return auth.api_error(404, "unknown_operator", "no such operator")
            revoked = deactivate_operator(db, operator, g.actor)
    except OperatorError as exc:
        return auth.api_error(422, "bad_operator", str(exc))
    return jsonify(deactivated=operator_id, tokens_revoked=revoked)
