"""The console in headless Chromium (Debian's package, driven by Playwright): an operator changes a
label, sees it in the simulator, publishes, a phone dials it through the USSD callback, and a
rollback brings the old label back."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from tests.console.conftest import PASSWORD, PHONE, SERVICE

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        message = "needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run the browser tests, not skip them quietly
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def live_server(console_app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, console_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture()
def page(browser, live_server):
    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


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


def log_in(page, email: str) -> None:
    page.goto("/console/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#login")


def test_change_label_simulate_publish_dial_and_roll_back(page, live_server):
    from playwright.sync_api import expect

    status = page.locator("#status")
    page.on("dialog", lambda dialog: dialog.accept("back to the seed"))
    log_in(page, "publisher@example.org")
    expect(page.locator("h1")).to_contain_text("Menu trees")
    page.click("a[data-tree=ecitizen]")
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

    page.fill("#publish-note", "clearer first option")
    page.click("#publish")
    expect(status).to_contain_text("Published version 2")
    assert "1. Register now" in dial(live_server, "after-publish")

    page.click('button[data-rollback="1"]')
    expect(status).to_contain_text("Rolled back: version 1")
    screen = dial(live_server, "after-rollback")
    assert "1. Register\n" in screen and "Register now" not in screen


def test_problem_shown_at_the_node_and_nothing_published(page, live_server):
    from playwright.sync_api import expect

    log_in(page, "publisher@example.org")
    page.goto("/console/trees/ecitizen")
    page.click('#graph g[data-node="help"]')
    expect(page.locator("#node-id")).to_have_text("help")
    page.fill("#text-sw", "")
    expect(page.locator('#graph g[data-node="help"].has-problem')).to_be_visible()
    expect(page.locator("#node-problems")).to_contain_text("text sw: '' should be non-empty")
    page.click("#save")
    expect(page.locator("#status")).to_contain_text("with 1 problem")
    page.click("#publish")
    expect(page.locator("#status")).to_contain_text("fix them before publishing")
    assert "7. Help" in dial(live_server, "still-live")


def test_editor_sees_a_stale_save_and_keeps_their_edit(page, live_server, as_role):
    from playwright.sync_api import expect

    log_in(page, "editor@example.org")
    page.goto("/console/trees/ecitizen")
    expect(page.locator("#publish")).to_be_disabled()
    page.fill('.option[data-index="1"] input[data-lang="en"]', "Apply now")

    other = as_role("publisher")  # someone else saves first
    draft = other.call("GET", "/api/v1/menus/ecitizen/draft").get_json()
    assert other.call("PUT", "/api/v1/menus/ecitizen/draft", draft).status_code == 200

    page.click("#save")
    expect(page.locator("#status")).to_contain_text("publisher@example.org")
    expect(page.locator('.option[data-index="1"] input[data-lang="en"]')).to_have_value("Apply now")
    page.click("#overwrite")
    expect(page.locator("#status")).to_contain_text("Saved revision 3")
