"""The menu API: drafts with optimistic concurrency, checks at the node, roles, publish and rollback
reaching the USSD callback, tokens, CSRF, and the login throttle."""

from __future__ import annotations

import copy

from tests.console.conftest import PASSWORD, dial, login

DRAFT = "/api/v1/menus/ecitizen/draft"


def _draft(client) -> dict:
    response = client.call("GET", DRAFT)
    assert response.status_code == 200
    return response.get_json()


def _save(client, draft: dict, document: dict, revision: int | None = None):
    return client.call("PUT", DRAFT, {"revision": revision or draft["revision"], "document": document})


def _relabel(document: dict, label: str) -> dict:
    changed = copy.deepcopy(document)
    changed["nodes"]["main"]["options"][0]["label"]["en"] = label
    return changed


def test_lists_trees_and_serves_the_seeded_draft(as_role):
    viewer = as_role("viewer")
    trees = viewer.call("GET", "/api/v1/menus").get_json()["trees"]
    assert [t["id"] for t in trees] == ["ecitizen"]
    assert trees[0]["live_number"] == 1 and trees[0]["draft_is_live"]
    draft = _draft(viewer)
    assert draft["revision"] == 1
    assert [p for p in draft["problems"] if p["severity"] == "error"] == []
    assert draft["journeys"]["journeys"], "journeys are seeded from ecitizen.journeys.yaml"
    assert {n["id"] for n in draft["graph"]["nodes"]} == set(draft["document"]["nodes"])


def test_seeding_is_idempotent(console_app):
    store = console_app.extensions["menu_store"]
    assert store.seed() == []
    assert store.history("ecitizen")["versions"][0]["number"] == 1
    assert len(store.history("ecitizen")["versions"]) == 1


def test_a_changed_seed_file_is_followed_until_an_operator_edits(console_app, tmp_path, as_role):
    import shutil

    import yaml

    store = console_app.extensions["menu_store"]
    trees = tmp_path / "trees"
    shutil.copytree(store.trees_dir, trees)
    store.trees_dir = trees
    document = yaml.safe_load((trees / "ecitizen.yaml").read_text())
    document["nodes"]["main"]["text"]["en"] = "Welcome to eCitizen Kenya"
    (trees / "ecitizen.yaml").write_text(yaml.safe_dump(document, allow_unicode=True))
    assert store.seed() == ["ecitizen"]
    assert store.live("ecitizen").document["nodes"]["main"]["text"]["en"] == "Welcome to eCitizen Kenya"
    assert store.seed() == []  # unchanged file: nothing to do

    publisher = as_role("publisher")
    draft = _draft(publisher)
    _save(publisher, draft, _relabel(draft["document"], "Register now"))
    document["nodes"]["main"]["text"]["en"] = "Changed again in the file"
    (trees / "ecitizen.yaml").write_text(yaml.safe_dump(document, allow_unicode=True))
    assert store.seed() == []  # an operator has edited: the database is the record now
    assert store.live("ecitizen").document["nodes"]["main"]["text"]["en"] == "Welcome to eCitizen Kenya"


def test_edit_publish_dial_and_roll_back(as_role, console_app):
    publisher = as_role("publisher")
    draft = _draft(publisher)
    saved = _save(publisher, draft, _relabel(draft["document"], "Register now"))
    assert saved.status_code == 200 and saved.get_json()["revision"] == 2

    simulated = publisher.call("POST", f"{DRAFT}/simulate", {"keys": [], "lang": "en"}).get_json()
    assert "1. Register now" in simulated["reply"] and simulated["reply"].startswith("CON ")
    assert "1. Register now" not in dial(console_app.test_client(), session_id="before"), "not live yet"

    published = publisher.call("POST", "/api/v1/menus/ecitizen/publish", {"note": "clearer label"})
    assert published.status_code == 201, published.get_json()
    assert published.get_json()["number"] == 2
    assert "1. Register now" in dial(console_app.test_client(), session_id="after")

    rolled = publisher.call("POST", "/api/v1/menus/ecitizen/rollback", {"version": "1", "note": "undo"})
    assert rolled.status_code == 201 and rolled.get_json()["number"] == 1
    screen = dial(console_app.test_client(), session_id="rolled-back")
    assert "1. Register\n" in screen and "Register now" not in screen

    history = publisher.call("GET", "/api/v1/menus/ecitizen/versions").get_json()
    assert [p["kind"] for p in history["publications"]] == ["rollback", "publish", "seed"]
    assert history["live_version"] == history["versions"][-1]["version"]

    diff = publisher.call("GET", "/api/v1/menus/ecitizen/diff?from=1&to=2").get_json()
    assert diff["nodes"]["changed"] == ["main"]
    assert "-        en: Register\n+        en: Register now\n" in diff["unified"]
    added = [line for line in diff["unified"].splitlines() if line[:1] == "+" and line[:3] != "+++"]
    assert len(added) == 1, diff["unified"]


def test_session_in_flight_finishes_on_its_version(as_role, console_app):
    publisher = as_role("publisher")
    phone = console_app.test_client()
    assert "7. Help" in dial(phone, "", session_id="inflight")
    draft = _draft(publisher)
    document = copy.deepcopy(draft["document"])
    document["nodes"]["help"]["options"][0]["label"]["en"] = "Support line (free)"
    assert _save(publisher, draft, document).status_code == 200
    assert publisher.call("POST", "/api/v1/menus/ecitizen/publish", {"note": "test"}).status_code == 201
    pinned = dial(phone, "7", session_id="inflight")
    assert "1. Support line\n" in pinned, "a session in flight stays on the version it started on"
    assert "1. Support line (free)" in dial(phone, "7", session_id="new-dial")


def test_other_process_follows_redis_and_loads_pinned_versions(as_role, console_app):
    """A second gateway process (its own registry) picks up a publish and old pinned versions."""
    from menus.live import LiveTreeRegistry

    other = LiveTreeRegistry.from_directory(console_app.extensions["settings"].trees_dir)
    other.attach(console_app.extensions["redis"])
    seeded = other.for_service_code("*384*123#").version
    publisher = as_role("publisher")
    draft = _draft(publisher)
    _save(publisher, draft, _relabel(draft["document"], "Register today"))
    new = publisher.call("POST", "/api/v1/menus/ecitizen/publish", {"note": "test"}).get_json()["version"]
    other.refresh(force=True)
    assert other.for_service_code("*384*123#").version == new

    fresh = LiveTreeRegistry()  # a process that started after the publish
    fresh.attach(console_app.extensions["redis"])
    assert fresh.for_service_code("*384*123#").version == new
    assert fresh.version("ecitizen", seeded) is not None, "old version loaded on demand from Redis"


def test_stale_save_gets_409_and_nothing_is_lost(as_role):
    first, second = as_role("editor"), as_role("editor")
    opened_by_first = _draft(first)
    opened_by_second = _draft(second)
    assert _save(first, opened_by_first, _relabel(opened_by_first["document"], "First")).status_code == 200
    stale = _save(second, opened_by_second, _relabel(opened_by_second["document"], "Second"))
    assert stale.status_code == 409
    body = stale.get_json()
    assert body["error"] == "stale_draft" and body["current_revision"] == 2
    assert "editor@example.org" in body["message"] and "not saved" in body["message"]
    kept = _draft(first)
    assert kept["document"]["nodes"]["main"]["options"][0]["label"]["en"] == "First"
    assert kept["revision"] == 2


def test_editor_cannot_publish_and_viewer_cannot_edit(as_role):
    editor, viewer = as_role("editor"), as_role("viewer")
    refused = editor.call("POST", "/api/v1/menus/ecitizen/publish", {"note": "x"})
    assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden"
    assert editor.call("POST", "/api/v1/menus/ecitizen/rollback", {"version": "1"}).status_code == 403
    draft = _draft(viewer)
    assert _save(viewer, draft, draft["document"]).status_code == 403


def _refused_at_node(client, document: dict, node: str, words: str) -> None:
    draft = _draft(client)
    assert _save(client, draft, document).status_code == 200, "a draft may be saved while it has problems"
    checked = client.call("POST", f"{DRAFT}/validate", {}).get_json()
    assert not checked["ok"]
    assert any(p["node"] == node and words in p["message"] for p in checked["problems"]), checked["problems"]
    refused = client.call("POST", "/api/v1/menus/ecitizen/publish", {"note": "broken"})
    assert refused.status_code == 422
    body = refused.get_json()
    assert body["error"] == "not_publishable" and any(p["node"] == node for p in body["problems"])
    history = client.call("GET", "/api/v1/menus/ecitizen/versions").get_json()
    assert len(history["versions"]) == 1, "nothing published"


def test_dangling_reference_is_reported_at_the_node(as_role):
    publisher = as_role("publisher")
    document = copy.deepcopy(_draft(publisher)["document"])
    document["nodes"]["help"]["options"][0]["next"] = "nowhere"
    _refused_at_node(publisher, document, "help", "'nowhere', which does not exist")


def test_oversized_text_is_reported_at_the_node(as_role):
    publisher = as_role("publisher")
    document = copy.deepcopy(_draft(publisher)["document"])
    document["nodes"]["help_pay"]["text"]["sw"] = "neno " * 150
    _refused_at_node(publisher, document, "help_pay", "too long")


def test_malformed_tree_is_reported_at_the_node(as_role):
    publisher = as_role("publisher")
    document = copy.deepcopy(_draft(publisher)["document"])
    document["nodes"]["language"]["kind"] = "menuu"
    _refused_at_node(publisher, document, "language", "is not one of")


def test_failing_journey_blocks_publishing(as_role):
    publisher = as_role("publisher")
    draft = _draft(publisher)
    document = _relabel(draft["document"], "Sign up")  # the journeys expect "1. Register"
    assert _save(publisher, draft, document).status_code == 200
    tested = publisher.call("POST", f"{DRAFT}/test", {}).get_json()
    assert not tested["ok"] and tested["journeys"]["failures"]
    assert "1. Register" in tested["journeys"]["failures"][0]["message"]
    assert publisher.call("POST", "/api/v1/menus/ecitizen/publish", {"note": "test"}).status_code == 422


def test_bad_input_gets_json_errors(as_role):
    editor = as_role("editor")
    draft = _draft(editor)
    no_json = editor.client.put(DRAFT, data="x", headers={"X-CSRF-Token": editor.csrf})
    assert no_json.status_code == 400 and no_json.get_json()["error"] == "bad_request"
    assert editor.call("PUT", DRAFT, {"document": draft["document"]}).status_code == 400
    renamed = dict(draft["document"], id="other")
    assert _save(editor, draft, renamed).status_code == 422
    assert editor.call("GET", "/api/v1/menus/nope/draft").get_json()["error"] == "unknown_tree"
    assert editor.call("GET", "/api/v1/menus/ecitizen/versions/99").status_code == 404


def test_measure_uses_the_engine_pagination(as_role):
    editor = as_role("editor")
    node = {"kind": "menu", "text": {"en": "Help " * 40, "sw": "Msaada"}, "options": []}
    measured = editor.call("POST", f"{DRAFT}/measure", {"node_id": "help", "node": node}).get_json()
    english = measured["languages"]["en"]
    assert len(english["pages"]) == 2 and english["pages"][0].endswith("98 More\n0 Back 00 Home")
    assert all(chars <= 160 for chars in english["page_chars"])
    assert measured["languages"]["sw"]["pages"] == ["Msaada\n0 Rudi 00 Mwanzo"]


def test_csrf_is_required_for_cookie_calls(as_role):
    editor = as_role("editor")
    draft = _draft(editor)
    response = editor.client.put(DRAFT, json={"revision": draft["revision"], "document": draft["document"]})
    assert response.status_code == 403 and response.get_json()["error"] == "csrf"


def test_api_tokens_work_without_cookies_or_csrf(as_role, console_app):
    publisher = as_role("publisher")
    created = publisher.call("POST", "/api/v1/tokens", {"name": "ci"})
    assert created.status_code == 201
    token = created.get_json()["token"]
    bot = console_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    draft = bot.get(DRAFT, headers=headers).get_json()
    saved = bot.put(
        DRAFT, json={"revision": draft["revision"], "document": draft["document"]}, headers=headers
    )
    assert saved.status_code == 200
    assert bot.get(DRAFT, headers={"Authorization": "Bearer wrong"}).status_code == 401
    token_id = created.get_json()["id"]
    assert publisher.call("DELETE", f"/api/v1/tokens/{token_id}").status_code == 200
    assert bot.get(DRAFT, headers=headers).status_code == 401

    from sqlalchemy import select

    from records.operators import ApiToken, OperatorAction

    with console_app.extensions["database"].session() as db:
        stored = db.scalar(select(ApiToken))
        assert token not in (stored.token_hash, stored.prefix)
        actions = [a.action for a in db.scalars(select(OperatorAction).order_by(OperatorAction.id))]
    assert {"token.create", "draft.save", "token.revoke"} <= set(actions)


def test_every_edit_publish_and_rollback_is_audited(as_role, console_app):
    publisher = as_role("publisher")
    draft = _draft(publisher)
    _save(publisher, draft, _relabel(draft["document"], "Register now"))
    publisher.call("POST", "/api/v1/menus/ecitizen/publish", {"note": "why"})
    publisher.call("POST", "/api/v1/menus/ecitizen/rollback", {"version": "1", "note": "undo"})
    from sqlalchemy import select

    from records.operators import OperatorAction

    with console_app.extensions["database"].session() as db:
        rows = db.scalars(select(OperatorAction).where(OperatorAction.tree_id == "ecitizen")).all()
        trail = [(r.operator_email, r.action, r.detail.get("number")) for r in rows]
    assert ("publisher@example.org", "draft.save", None) in trail
    assert ("publisher@example.org", "publish", 2) in trail
    assert ("publisher@example.org", "rollback", 1) in trail
    # and the same actions reach the tamper-evident trail, without the operator's email
    events = console_app.extensions["redis"].xrange("audit:events")
    operator_events = [
        {k.decode(): v.decode() for k, v in fields.items()}
        for _, fields in events
        if fields.get(b"kind") == b"operator"
    ]
    actions = {e["action"] for e in operator_events if e.get("tree_id") == "ecitizen"}
    assert {"draft.save", "publish", "rollback"} <= actions
    assert all("example.org" not in str(e) for e in operator_events)


def test_login_is_throttled_per_account(console_app):
    client = console_app.test_client()
    for _ in range(5):
        assert login(client, "editor@example.org", "wrong password!").status_code == 401
    locked = login(client, "editor@example.org", PASSWORD)
    assert locked.status_code == 429 and b"Too many failed logins" in locked.data
    assert login(console_app.test_client(), "viewer@example.org").status_code == 302, (
        "other accounts unaffected"
    )


def test_login_is_throttled_per_address(console_app):
    client = console_app.test_client()
    for number in range(20):
        login(client, f"nobody{number}@example.org", "wrong password!")
    assert login(client, "viewer@example.org").status_code == 429


def test_pages_need_a_login_and_the_cookie_is_strict(console_app):
    client = console_app.test_client()
    assert client.get("/console/").status_code == 302
    assert client.get("/api/v1/menus").status_code == 401
    response = login(client, "viewer@example.org")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/console/")
    assert page.status_code == 200 and b"ecitizen" in page.data
    assert client.get("/console/trees/ecitizen").status_code == 200


def test_create_admin_command(console_app):
    runner = console_app.test_cli_runner()
    result = runner.invoke(
        args=["operators", "create-admin", "boss@example.org", "--password-stdin"], input="a long enough pw\n"
    )
    assert result.exit_code == 0, result.output
    assert login(console_app.test_client(), "boss@example.org", "a long enough pw").status_code == 302
    again = runner.invoke(
        args=["operators", "create-admin", "boss@example.org", "--password-stdin"], input="another long pw\n"
    )
    assert again.exit_code != 0 and "already exists" in again.output


def test_journeys_are_edited_with_the_draft(as_role):
    publisher = as_role("publisher")
    draft = _draft(publisher)
    journeys = {
        "tree": "ecitizen",
        "journeys": [{"name": "new label", "steps": [{"dial": "*384*123#", "expect": "1. Sign up"}]}],
    }
    saved = publisher.call(
        "PUT",
        DRAFT,
        {
            "revision": draft["revision"],
            "document": _relabel(draft["document"], "Sign up"),
            "journeys": journeys,
        },
    )
    assert saved.status_code == 200 and saved.get_json()["journeys"] == journeys
    tested = publisher.call("POST", f"{DRAFT}/test", {}).get_json()
    assert tested["ok"] and tested["journeys"]["passed"] == ["new label"]
    assert publisher.call("POST", "/api/v1/menus/ecitizen/publish", {"note": "test"}).status_code == 201


def test_a_large_tree_fits_in_one_save(as_role):
    editor = as_role("editor")
    draft = _draft(editor)
    document = copy.deepcopy(draft["document"])
    for number in range(120):
        document["nodes"][f"filler_{number}"] = {"kind": "end", "text": {"en": "x" * 300, "sw": "y" * 300}}
    saved = _save(editor, draft, document)
    assert saved.status_code == 200, saved.status_code
    assert any(p["message"] == "cannot be reached from the start" for p in saved.get_json()["problems"])


def test_publish_and_rollback_need_a_note(as_role):
    publisher = as_role("publisher")
    refused = publisher.call("POST", "/api/v1/menus/ecitizen/publish", {"note": "  "})
    assert refused.status_code == 400 and refused.get_json()["error"] == "note_required"
    refused = publisher.call("POST", "/api/v1/menus/ecitizen/rollback", {"version": "1"})
    assert refused.status_code == 400 and refused.get_json()["error"] == "note_required"


def test_the_same_save_twice_is_not_a_conflict_but_another_edit_is(as_role):
    editor = as_role("editor")
    draft = _draft(editor)
    document = _relabel(draft["document"], "Register now")
    assert _save(editor, draft, document).status_code == 200
    again = _save(editor, draft, document)  # a double click: same revision, same content
    assert again.status_code == 200 and again.get_json()["revision"] == 2
    other = _save(editor, draft, _relabel(draft["document"], "Something else"))
    assert other.status_code == 409
    assert "by you (editor@example.org) in another tab or window" in other.get_json()["message"]


def test_warnings_are_listed_but_do_not_block_publishing(as_role):
    publisher = as_role("publisher")
    checked = publisher.call("POST", f"{DRAFT}/validate", {}).get_json()
    warnings = [p for p in checked["problems"] if p["severity"] == "warning"]
    assert checked["ok"] and any(p["node"] == "main" for p in warnings)
    assert publisher.call("POST", "/api/v1/menus/ecitizen/publish", {"note": "ok"}).status_code == 201


def test_export_import_and_reset(as_role):
    editor = as_role("editor")
    exported = editor.call("POST", f"{DRAFT}/export", {}).get_json()["yaml"]
    assert exported.startswith("id: ecitizen\ntitle: eCitizen\n")
    changed = exported.replace("en: Welcome to eCitizen", "en: Welcome, imported")
    imported = editor.call("POST", f"{DRAFT}/import", {"yaml": changed}).get_json()
    assert imported["document"]["nodes"]["main"]["text"]["en"] == "Welcome, imported"
    assert _draft(editor)["revision"] == 1, "importing does not save"
    bad = editor.call("POST", f"{DRAFT}/import", {"yaml": "id: [unclosed"})
    assert bad.status_code == 422 and bad.get_json()["error"] == "bad_yaml"
    viewer = as_role("viewer")
    assert viewer.call("POST", f"{DRAFT}/import", {"yaml": changed}).status_code == 403

    draft = _draft(editor)
    _save(editor, draft, imported["document"])
    reset = editor.call("POST", f"{DRAFT}/reset", {"version": "1", "revision": 2})
    assert reset.status_code == 200 and reset.get_json()["revision"] == 3
    assert reset.get_json()["document"]["nodes"]["main"]["text"]["en"] == "Welcome to eCitizen"
    _save(editor, _draft(editor), imported["document"])  # revision 4
    stale = editor.call("POST", f"{DRAFT}/reset", {"version": "1", "revision": 3})
    assert stale.status_code == 409


def test_session_endpoint_gives_the_csrf_token_only_to_the_logged_in(as_role, console_app):
    editor = as_role("editor")
    body = editor.call("GET", "/api/v1/session").get_json()
    assert body["email"] == "editor@example.org" and body["csrf_token"] == editor.csrf
    assert console_app.test_client().get("/api/v1/session").status_code == 401


def test_a_viewer_cannot_reset_import_or_run_live_calls(as_role):
    viewer = as_role("viewer")
    assert viewer.call("POST", f"{DRAFT}/reset", {"version": "1", "revision": 1}).status_code == 403
    live = viewer.call("POST", f"{DRAFT}/simulate", {"keys": [], "scenario": "live", "phone": "0722000111"})
    assert live.status_code == 400 and live.get_json()["error"] == "unknown_scenario"


def test_operator_text_cannot_break_out_of_the_drop_off_page(as_role, console_app):
    publisher = as_role("publisher")
    attack = "</script><b>x"
    draft = _draft(publisher)
    document = copy.deepcopy(draft["document"])
    locked = document["nodes"]["locked"]["text"]
    locked["en"] = "Help " + attack + " " + locked["en"]
    assert _save(publisher, draft, document).status_code == 200
    assert publisher.call("POST", "/api/v1/menus/ecitizen/publish", {"note": "x"}).status_code == 201
    page = publisher.client.get("/console/analytics/dropoff?tree=ecitizen").get_data(as_text=True)
    assert "Help \\u003c/script\\u003e\\u003cb\\u003ex" in page, "the tree travels as escaped JSON"
    assert attack not in page
