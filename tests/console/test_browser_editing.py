"""Editing in Chromium: measurement with the wrong-key notice, warnings and every problem listed, the
removed-node fix, undo/redo, duplicate, reorder, "leads to" search, import/export, reset to a version,
any-two-versions diff, the translation view, loading states, double-click save, an expired login,
role messages, keyboard use and a 390 px wide phone."""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.console.conftest import SHIPPED_TREE, log_in, open_tree

pytestmark = pytest.mark.browser
DRAFT = "/api/v1/menus/ecitizen/draft"


def _save_via_api(client, change) -> dict:
    draft = client.call("GET", DRAFT).get_json()
    document = copy.deepcopy(draft["document"])
    change(document)
    saved = client.call("PUT", DRAFT, {"revision": draft["revision"], "document": document})
    assert saved.status_code == 200
    return saved.get_json()


def _publish_via_api(client, note: str) -> dict:
    response = client.call("POST", "/api/v1/menus/ecitizen/publish", {"note": note})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _go_to(page, node: str) -> None:
    from playwright.sync_api import expect

    page.fill("#graph-search", node)
    page.press("#graph-search", "Enter")
    expect(page.locator("#node-id")).to_have_text(node)


# -- measurement (item 2) ---------------------------------------------------------------------------
def test_the_wrong_key_notice_is_counted_and_warned_at_the_node(page):
    from playwright.sync_api import expect

    log_in(page, "editor@example.org")
    open_tree(page)
    english = page.locator('#measure .count[data-lang="en"]').first
    expect(english).to_contain_text("1 page")
    expect(english).to_contain_text("after a wrong key 2 pages")
    expect(page.locator("#measure .measure-warning")).to_contain_text("option 8 behind '98 More'")
    expect(page.locator("#node-problems li.warning")).to_contain_text("after a wrong key")
    expect(page.locator('#graph g[data-node="main"].has-warning')).to_be_visible()


def test_a_mid_sentence_break_and_a_long_text_are_shown_with_the_limit(page):
    from playwright.sync_api import expect

    log_in(page, "editor@example.org")
    open_tree(page)
    _go_to(page, "help_pay")
    page.fill("#text-en", "Bring your ID card and the reference number to any Huduma Centre near you. " * 2)
    warning = page.locator("#measure .measure-warning", has_text="mid-sentence")
    expect(warning).to_contain_text("'en' text breaks mid-sentence between pages 1 and 2")
    expect(page.locator("#node-problems li.warning", has_text="mid-sentence")).to_have_count(1)
    page.fill("#text-en", "x " * 500)
    expect(page.locator("#node-problems li.error")).to_contain_text("1,000 characters, the limit is 600")
    # every problem is listed: the long text does not hide a dangling option elsewhere
    _go_to(page, "help")
    page.fill('.option[data-index="0"] input[data-field="next"]', "nowhere")
    page.dispatch_event('.option[data-index="0"] input[data-field="next"]', "change")
    expect(page.locator("#problems li.problem")).to_have_count(1)  # "nowhere" is not a node: not applied
    page.fill('.option[data-index="0"] input[data-field="next"]', "sorry")
    page.dispatch_event('.option[data-index="0"] input[data-field="next"]', "change")
    expect(page.locator("#problems")).to_contain_text("help_support: cannot be reached from the start")
    expect(page.locator("#problems")).to_contain_text("help_pay: text en: is too long")
    message = page.locator("#problems li", has_text="too long").inner_text()
    assert len(message) < 150, "a 1,000-character text is not repeated"


def test_removing_a_node_moves_the_panel_to_the_start_node(page):
    from playwright.sync_api import expect

    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, "editor@example.org")
    open_tree(page)
    _go_to(page, "help_privacy")
    page.click("#remove-node")
    expect(page.locator("#node-id")).to_have_text("main")
    expect(page.locator("#text-en")).to_have_value("Welcome to eCitizen")
    expect(page.locator('#graph g[data-node="help_privacy"]')).to_have_count(0)
    expect(page.locator("#problems")).to_contain_text("help: leads to 'help_privacy', which does not exist")
    page.fill("#text-en", "Welcome to eCitizen!")
    page.click("#undo")
    page.click("#undo")
    expect(page.locator('#graph g[data-node="help_privacy"]')).to_have_count(1)


# -- editing (item 3) -------------------------------------------------------------------------------
def test_undo_redo_duplicate_and_reorder(page):
    from playwright.sync_api import expect

    log_in(page, "editor@example.org")
    open_tree(page)
    expect(page.locator("#undo")).to_be_disabled()
    page.fill("#text-en", "Welcome to eCitizen Kenya")
    page.click("#undo")
    expect(page.locator("#text-en")).to_have_value("Welcome to eCitizen")
    page.click("#redo")
    expect(page.locator("#text-en")).to_have_value("Welcome to eCitizen Kenya")

    page.click('.option[data-index="0"] button[data-move="down"]')
    expect(page.locator('.option[data-index="0"] input[data-lang="en"]')).to_have_value("Apply for a service")
    expect(page.locator('.option[data-index="1"] input[data-lang="en"]')).to_have_value("Register")
    page.click("#sim-dial")
    expect(page.locator("#screen")).to_contain_text("1. Apply for a service\n2. Register")

    _go_to(page, "help_sms")
    page.click("#duplicate-node")
    expect(page.locator("#node-id")).to_have_text("help_sms_copy")
    expect(page.locator('#graph g[data-node="help_sms_copy"]')).to_have_count(1)
    expect(page.locator("#problems")).to_contain_text("help_sms_copy: cannot be reached")
    page.keyboard.press("Escape")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+z")
    expect(page.locator('#graph g[data-node="help_sms_copy"]')).to_have_count(0)


def test_leads_to_is_searchable(page):
    from playwright.sync_api import expect

    log_in(page, "editor@example.org")
    open_tree(page)
    target = page.locator('.option[data-index="2"] input[data-field="next"]')
    assert target.get_attribute("list") == "node-ids"
    expect(page.locator('#node-ids option[value="track_ref"]')).to_have_attribute(
        "label", "Enter reference number, e.g. ECZ-7K3Q9P"
    )
    target.fill("help_sms")
    target.dispatch_event("change")
    expect(page.locator('.option[data-index="2"] .leads-hint')).to_contain_text("SMS to")
    page.click("#sim-dial")
    expect(page.locator("#screen")).to_contain_text("3. ")  # the dial answered: a key now answers it
    page.fill("#sim-key", "3")
    page.press("#sim-key", "Enter")
    expect(page.locator("#screen")).to_contain_text("STATUS")


def test_export_and_import_yaml(page, tmp_path):
    from playwright.sync_api import expect

    log_in(page, "editor@example.org")
    open_tree(page)
    with page.expect_download() as download:
        page.click("#export")
    exported = yaml.safe_load(download.value.path().read_text(encoding="utf-8"))
    assert exported["id"] == "ecitizen" and len(exported["nodes"]) == len(SHIPPED_TREE["nodes"])
    assert list(exported)[:4] == ["id", "title", "service_codes", "start"], "the seeds' key order"

    exported["nodes"]["main"]["text"]["en"] = "Welcome to eCitizen (imported)"
    path = tmp_path / "ecitizen.yaml"
    path.write_text(yaml.safe_dump(exported, allow_unicode=True), encoding="utf-8")
    page.set_input_files("#import-file", str(path))
    expect(page.locator("#status")).to_contain_text("Imported into the working copy")
    expect(page.locator("#text-en")).to_have_value("Welcome to eCitizen (imported)")
    expect(page.locator("#revision")).to_contain_text("unsaved changes")
    page.click("#undo")
    expect(page.locator("#text-en")).to_have_value("Welcome to eCitizen")

    exported["id"] = "other"
    path.write_text(yaml.safe_dump(exported), encoding="utf-8")
    page.set_input_files("#import-file", str(path))
    expect(page.locator("#status")).to_contain_text("that file is tree 'other', not 'ecitizen'")


def test_reset_to_a_version_and_diff_any_two(page, as_role):
    from playwright.sync_api import expect

    publisher = as_role("publisher")

    def relabel(text):
        return lambda document: document["nodes"]["main"]["options"][0]["label"].update(en=text)

    _save_via_api(publisher, relabel("Register now"))
    _publish_via_api(publisher, "version two")
    _save_via_api(publisher, relabel("Register today"))
    _publish_via_api(publisher, "version three")

    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, "editor@example.org")
    open_tree(page)
    page.select_option("#diff-from", "2")
    page.select_option("#diff-to", "3")
    page.click("#show-diff")
    expect(page.locator("#diff-summary")).to_contain_text("version 2")
    expect(page.locator("#diff-summary")).to_contain_text("1 screen(s) changed")
    expect(page.locator("#diff span.del")).to_contain_text(["en: Register now"])
    expect(page.locator("#diff span.add")).to_contain_text(["en: Register today"])

    page.click('button[data-reset="2"]')
    expect(page.locator("#status")).to_contain_text("copy of version #2")
    expect(page.locator('.option[data-index="0"] input[data-lang="en"]')).to_have_value("Register now")
    draft = publisher.call("GET", DRAFT).get_json()
    assert draft["document"]["nodes"]["main"]["options"][0]["label"]["en"] == "Register now"


def test_translation_view_flags_missing_texts_and_edits_them(page, as_role):
    from playwright.sync_api import expect

    _save_via_api(as_role("editor"), lambda d: d["nodes"]["help_pay"]["text"].update(sw=""))
    log_in(page, "editor@example.org")
    open_tree(page)
    page.click("#translations-section > summary")
    expect(page.locator("#translation-count")).to_contain_text("1 missing a translation")
    assert page.locator("#translations tbody tr").count() > 80
    page.check("#only-missing")
    expect(page.locator("#translations tbody tr")).to_have_count(1)
    row = page.locator('#translations tr[data-node="help_pay"]')
    expect(row.locator("td.missing-text .badge")).to_have_text("missing")
    expect(row.locator('textarea[data-lang="en"]')).to_have_value(
        "Choose 5 Pay and pick your application. You will receive an M-Pesa prompt on this phone: "
        "enter your M-Pesa PIN to pay the fee."
    )
    row.locator('textarea[data-lang="sw"]').fill("Chagua 5 Lipa.")
    expect(page.locator('#graph g[data-node="help_pay"].has-problem')).to_have_count(0)
    page.click("#save")
    expect(page.locator("#status")).to_contain_text("Saved revision 3.")


def test_loading_states_and_a_double_click_on_save(page):
    from playwright.sync_api import expect

    log_in(page, "editor@example.org")
    open_tree(page)
    page.fill("#text-en", "Welcome!")
    during = page.evaluate(
        """() => { const b = document.getElementById('save'); b.click();
                   return [b.disabled, b.getAttribute('aria-busy'), b.textContent]; }"""
    )
    assert during == [True, "true", "Saving…"]
    expect(page.locator("#status")).to_contain_text("Saved revision 2")
    expect(page.locator("#save")).to_be_enabled()
    page.fill("#text-en", "Welcome again!")
    page.dblclick("#save")
    expect(page.locator("#status")).to_contain_text("Saved revision 3")
    expect(page.locator("#status")).not_to_contain_text("after you opened it")
    expect(page.locator("#revision")).to_contain_text("revision 3")
    during = page.evaluate(
        """() => { const b = document.getElementById('sim-dial'); b.click(); return b.disabled; }"""
    )
    assert during is True
    expect(page.locator("#screen")).to_contain_text("Welcome again!")


def test_an_expired_login_is_explained_and_the_edits_survive(page, console_app):
    from playwright.sync_api import expect
    from sqlalchemy import select

    from console.operators import end_sessions
    from records.operators import Operator

    log_in(page, "editor@example.org")
    open_tree(page)
    page.fill("#text-en", "Kept across the login")
    # The login ends on the server, as when it times out: clearing the browser's cookies instead
    # raced with the preview requests the typing sends, whose answers set the cookie again.
    with console_app.extensions["database"].session() as db:
        end_sessions(db.scalars(select(Operator).where(Operator.email == "editor@example.org")).one())
    page.click("#sim-dial")
    banner = page.locator("#session-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Your login has expired")
    assert "CSRF" not in page.locator("#screen").inner_text()
    assert "csrf" not in page.locator("#status").inner_text().lower()

    other = page.context.new_page()
    log_in(other, "editor@example.org")
    other.close()
    page.click("#session-continue")
    expect(banner).to_be_hidden()
    page.click("#save")
    expect(page.locator("#status")).to_contain_text("Saved revision 2")
    expect(page.locator("#text-en")).to_have_value("Kept across the login")


def test_a_viewer_sees_why_buttons_are_grey(page):
    from playwright.sync_api import expect

    log_in(page, "viewer@example.org")
    open_tree(page)
    for button in ("#save", "#publish", "#add-node", "#import"):
        expect(page.locator(button)).to_be_disabled()
    expect(page.locator("#role-note")).to_contain_text("Saving needs the editor role")
    expect(page.locator("#text-en")).to_have_attribute("readonly", "")


def test_keyboard_skip_link_and_one_tab_stop_for_the_graph(page):
    from playwright.sync_api import expect

    log_in(page, "editor@example.org")
    open_tree(page)
    page.keyboard.press("Tab")
    skip = page.locator("a.skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_have_text("Skip to the node editor")
    page.keyboard.press("Enter")
    expect(page.locator("#node-pane")).to_be_focused()
    tabbable = page.evaluate(
        """() => [...document.querySelectorAll('#graph *')].filter(e => e.tabIndex >= 0 &&
                   !e.disabled && e.getClientRects().length).length"""
    )
    assert tabbable == 5, "four zoom buttons and the graph itself, not one stop per node"
    page.locator("#graph .graph-stage").focus()
    page.keyboard.press("ArrowRight")
    first = page.locator("#node-id").inner_text()
    page.keyboard.press("ArrowRight")
    assert page.locator("#node-id").inner_text() != first
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.getElementById('node-editor').contains(document.activeElement)")


@pytest.mark.parametrize("path", ["/console/trees/ecitizen", "/console/"])
def test_a_390_px_phone_has_no_horizontal_overflow(page, path):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, "publisher@example.org")
    if path.startswith("/console/trees"):
        open_tree(page)
        page.click("#translations-section > summary")
    else:
        page.goto(path)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"{path} is {width} px wide on a 390 px screen"
    assert page.errors == []
