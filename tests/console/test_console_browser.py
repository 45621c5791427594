"""The console in headless Chromium (Debian's package, driven by Playwright): an operator changes a
label, sees it in the simulator, publishes with a note, a phone dials it through the USSD callback,
and a rollback brings the old label back; problems show at the node; a stale save keeps the edit."""

from __future__ import annotations

import pytest
import requests

from tests.console.conftest import PHONE, SERVICE, log_in, open_tree

pytestmark = pytest.mark.browser


def dial(base_url: str, session_id: str, text: str = "") -> str:
    """One hop through the real Africa's Talking callback, over HTTP."""
    response = requests.post(
        f"{base_url}/ussd/africastalking",
        data={
            "sessionId": session_id,
            "serviceCode": SERVICE,
            "phoneNumber": PHONE,
            "networkCode": "63902",
            "text": text,
        },
        timeout=10,
    )
    assert response.status_code == 200
    return response.text


def confirm_note(page, note: str) -> None:
    """Fill the publish/rollback dialog's required note and confirm."""
    from playwright.sync_api import expect

    dialog = page.locator("#note-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#note-confirm")).to_be_disabled()
    page.fill("#note-text", note)
    page.click("#note-confirm")
    expect(dialog).to_be_hidden()


def test_change_label_simulate_publish_dial_and_roll_back(page, live_server):
    from playwright.sync_api import expect

    status = page.locator("#status")
    log_in(page, "publisher@example.org")
    expect(page.locator("h1")).to_contain_text("Menu trees")
    page.click("a[data-tree=ecitizen]")
    page.wait_for_selector("#editor[data-loaded=yes]")
    expect(page.locator("#node-id")).to_have_text("main")
    expect(page.locator('#graph g[data-node="help"]')).to_be_visible()

    page.fill('.option[data-index="0"] input[data-lang="en"]', "Register now")
    expect(page.locator('#measure .count[data-lang="en"]')).to_contain_text("1 page")
    page.click("#save")
    expect(status).to_contain_text("Saved revision 2")

    page.click("#sim-dial")
    expect(page.locator("#screen")).to_contain_text("1. Register now")
    page.fill("#sim-key", "7")
    page.press("#sim-key", "Enter")
    expect(page.locator("#screen")).to_contain_text("1. Support line")
    assert "1. Register now" not in dial(live_server, "before-publish"), "the draft is not live yet"

    page.click("#publish")
    expect(page.locator("#note-dialog-summary")).to_contain_text("1 screen(s) changed")
    confirm_note(page, "clearer first option")
    expect(status).to_contain_text("Published version 2")
    assert "1. Register now" in dial(live_server, "after-publish")
    expect(page.locator('#history tr[data-version="2"] td.note')).to_have_text("clearer first option")
    expect(page.locator('#publications li[data-kind="publish"]')).to_contain_text("clearer first option")

    page.click('button[data-rollback="1"]')
    confirm_note(page, "back to the seed")
    expect(status).to_contain_text("Rolled back: version 1")
    screen = dial(live_server, "after-rollback")
    assert "1. Register\n" in screen and "Register now" not in screen
    assert page.errors == []


def test_publish_needs_a_note_and_can_be_cancelled(page, live_server):
    from playwright.sync_api import expect

    log_in(page, "publisher@example.org")
    open_tree(page)
    page.fill('.option[data-index="0"] input[data-lang="en"]', "Sign up")
    page.click("#save")
    expect(page.locator("#status")).to_contain_text("Saved revision 2")
    page.click("#publish")
    page.fill("#note-text", "   ")
    expect(page.locator("#note-confirm")).to_be_disabled()
    page.click("#note-cancel")
    expect(page.locator("#status")).to_contain_text("Not published")
    assert "1. Register\n" in dial(live_server, "cancelled")


def test_problem_shown_at_the_node_and_nothing_published(page, live_server):
    from playwright.sync_api import expect

    log_in(page, "publisher@example.org")
    open_tree(page)
    page.fill("#graph-search", "help")
    page.press("#graph-search", "Enter")
    expect(page.locator("#node-id")).to_have_text("help")
    page.fill("#text-sw", "")
    expect(page.locator('#graph g[data-node="help"].has-problem')).to_be_visible()
    expect(page.locator("#node-problems")).to_contain_text("text sw: '' should be non-empty")
    page.click("#save")
    expect(page.locator("#status")).to_contain_text("with 1 problem")
    page.click("#publish")
    confirm_note(page, "try anyway")
    expect(page.locator("#status")).to_contain_text("fix them before publishing")
    assert "7. Help" in dial(live_server, "still-live")


def test_editor_sees_a_stale_save_and_keeps_their_edit(page, live_server, as_role):
    from playwright.sync_api import expect

    log_in(page, "editor@example.org")
    open_tree(page)
    expect(page.locator("#publish")).to_be_disabled()
    expect(page.locator("#role-note")).to_contain_text("publisher role; you are an editor")
    assert page.locator("#publish").get_attribute("aria-describedby") == "role-note"
    page.fill('.option[data-index="1"] input[data-lang="en"]', "Apply now")

    other = as_role("publisher")  # someone else saves first
    draft = other.call("GET", "/api/v1/menus/ecitizen/draft").get_json()
    assert other.call("PUT", "/api/v1/menus/ecitizen/draft", draft).status_code == 200

    page.click("#save")
    expect(page.locator("#status")).to_contain_text("publisher@example.org")
    expect(page.locator('.option[data-index="1"] input[data-lang="en"]')).to_have_value("Apply now")
    page.click("#overwrite")
    expect(page.locator("#status")).to_contain_text("Saved revision 3")
    assert page.errors == []
