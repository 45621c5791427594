"""Staged releases in Chromium, as a new operator would do them: find a screen by search, change
it, fix and record journey tests, publish to a share of new sessions, watch the comparison fill in
from real sessions, and promote; and a release that breaks a journey rolling itself back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from audit.drain import drain_client, start_drainer_thread
from menus.live import in_share
from tests.console.conftest import SHIPPED_JOURNEYS, dial, log_in, make_console_app, open_tree
from tests.console.test_releases import (
    _change,
    _hang_up,
    _privacy,
    _privacy_is_an_end,
    _sessions,
)

pytestmark = pytest.mark.browser


@pytest.fixture()
def console_app(console_redis_url, database_url) -> Iterator[object]:
    """This module's app checks releases every 0.3 s, judges after 4 finished sessions a side,
    and drains the audit trail in the background as the worker does."""
    app = make_console_app(
        console_redis_url, database_url, release_min_sessions=4, release_check_interval_s=0.3
    )
    thread, stop = start_drainer_thread(drain_client(console_redis_url), app.extensions["database"])
    yield app
    stop.set()
    thread.join(5)
    app.extensions["release_watcher"].stop()


def _confirm(page, note: str, share: str | None = None) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#note-dialog")).to_be_visible()
    if share is not None:
        page.select_option("#publish-share", share)
    page.fill("#note-text", note)
    page.click("#note-confirm")
    expect(page.locator("#note-dialog")).to_be_hidden()


def test_find_change_record_stage_to_ten_percent_watch_and_promote(page, console_app):
    from playwright.sync_api import expect

    status = page.locator("#status")
    log_in(page, "publisher@example.org")
    open_tree(page)
    page.fill("#graph-search", "Track application")
    expect(page.locator("#search-results li").first).to_contain_text("opened by “track application”")
    page.press("#graph-search", "Enter")
    expect(page.locator("#node-id")).to_have_text("track_ref")
    page.fill("#text-en", "Type the reference number, e.g. ECZ-7K3Q9P")

    page.click("#test")  # the journey test that expects the old prompt now fails
    track = page.locator('#journey-list details.journey.failed[data-name="track by reference"]')
    expect(track.locator(".journey-failure")).to_contain_text("Step 2")
    track.locator('tr[data-step="1"] textarea.step-expect').fill("Type the reference number, e.g. ECZ-7K3Q9P")

    page.click("#sim-dial")
    page.fill("#sim-key", "3")
    page.press("#sim-key", "Enter")
    expect(page.locator("#screen")).to_contain_text("Type the reference number")
    page.click("#sim-save-test")
    recorded = page.locator("#journey-list details.journey").last.locator("input.journey-name")
    expect(recorded).to_be_focused()
    recorded.fill("new track prompt")
    recorded.dispatch_event("change")
    page.click("#test")
    expect(status).to_contain_text(f"all {len(SHIPPED_JOURNEYS) + 1} journey tests pass")
    page.click("#save")
    expect(status).to_contain_text("Saved revision 2")

    page.click("#publish")
    _confirm(page, "clearer track prompt, to 10% first", share="10")
    expect(status).to_contain_text("live for 10% of new sessions")
    running = page.locator("#release-running")
    expect(running).to_contain_text("Version #2 is live for 10% of new sessions; #1 for the rest")
    expect(page.locator("#release-verdict")).to_contain_text("Not enough finished sessions yet")

    # real sessions through the USSD callback: 1 in 10 gets the new prompt
    phone = console_app.test_client()
    candidate = console_app.extensions["menu_store"].version("ecitizen", "2").version
    for number in range(30):
        session_id, number_dialling = f"ten-percent-{number}", f"+2547220{number:05d}"
        dial(phone, "", session_id=session_id, phone=number_dialling)
        screen = dial(phone, "3", session_id=session_id, phone=number_dialling)
        new = in_share(session_id, candidate, 10)
        assert ("Type the reference number" in screen) == new, session_id
        _hang_up(phone, session_id)
    sides = page.locator("#release-figures tbody tr")
    expect(sides.nth(1).locator("td").nth(1)).not_to_have_text(
        "0", timeout=15_000
    )  # the figures fill in live
    assert page.locator("#release-difference").inner_text().startswith("Completion #2 − #1:")

    page.click("#release-promote")
    _confirm(page, "the new prompt works")
    expect(status).to_contain_text("Version #2 is live for everyone")
    expect(page.locator("#release-outcome")).to_contain_text("#2 promoted to everyone")
    expect(page.locator('#publications li[data-kind="promote"]')).to_contain_text("the new prompt works")
    for number in range(5):
        dial(phone, "", session_id=f"after-{number}", phone=f"+2547330{number:05d}")
        assert "Type the reference number" in dial(
            phone, "3", session_id=f"after-{number}", phone=f"+2547330{number:05d}"
        )
    assert page.errors == []


def test_a_staged_release_that_breaks_a_journey_rolls_itself_back(page, console_app, as_role):
    from playwright.sync_api import expect

    publisher = as_role("publisher")
    _change(publisher, _privacy_is_an_end)  # version 2: "Your data" is an END screen
    assert publisher.call("POST", "/api/v1/menus/ecitizen/publish", {"note": "v2"}).status_code == 201

    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, "publisher@example.org")
    open_tree(page)
    page.fill("#graph-search", "help")
    page.press("#graph-search", "Enter")
    expect(page.locator("#node-id")).to_have_text("help")
    for index, target in ((1, "help_privacy"), (5, "help_register")):  # a swap nobody meant
        leads = page.locator(f'.option[data-index="{index}"] input[data-field="next"]')
        leads.fill(target)
        leads.dispatch_event("change")
    deep = page.locator('#journey-list details.journey[data-name="deep dial straight into help"]')
    deep.locator("> summary").click()
    deep.locator("button.delete-journey").click()  # the one test that would have caught it
    page.click("#save")
    expect(page.locator("#status")).to_contain_text("Saved revision 3")
    page.click("#publish")
    _confirm(page, "help topics reordered", share="50")
    expect(page.locator("#release-running")).to_contain_text("Version #3 is live for 50%")

    phone = console_app.test_client()
    candidate = console_app.extensions["menu_store"].version("ecitizen", "3").version
    for session_id in _sessions(candidate, 50, True, 4, "broken"):
        assert not _privacy(phone, session_id).startswith("END")
        _hang_up(phone, session_id)
    for session_id in _sessions(candidate, 50, False, 4, "fine"):
        assert _privacy(phone, session_id).startswith("END We never ask")

    outcome = page.locator("#release-outcome")
    expect(outcome).to_contain_text("#3 rolled back automatically", timeout=20_000)
    expect(outcome).to_contain_text("Completion #3 0.0% of 4, #2 100.0% of 4")
    for session_id in _sessions(candidate, 50, True, 2, "after"):
        assert _privacy(phone, session_id).startswith("END We never ask"), "new sessions are on #2 again"
    from sqlalchemy import select

    from records.operators import OperatorAction

    with console_app.extensions["database"].session() as db:
        (action,) = db.scalars(
            select(OperatorAction).where(OperatorAction.action == "release.rollback")
        ).all()
        assert action.operator_email == "system" and action.detail["automatic"] is True
        assert (action.detail["candidate_completed"], action.detail["baseline_completed"]) == (0, 4)
    assert page.errors == []
