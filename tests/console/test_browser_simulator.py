"""The simulator and the journey tests in Chromium: scenarios whose stubs are labelled on the phone,
a transcript, the current screen highlighted on the graph, both languages, "save as test", journey
tests edited as a list, and a register → apply → track run against the reference core service."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from backend_client import CoreClient
from stand_ins.core_service.testing import CoreServer
from tests.console.conftest import SHIPPED_JOURNEYS, log_in, make_console_app, open_tree
from tests.stand_ins.core_service.conftest import core_config

pytestmark = pytest.mark.browser
DRAFT = "/api/v1/menus/ecitizen/draft"


def press(page, *keys: str) -> None:
    from playwright.sync_api import expect

    for key in keys:
        before = page.locator("#sim-transcript li").count()
        page.fill("#sim-key", key)
        page.press("#sim-key", "Enter")
        expect(page.locator("#sim-transcript li")).to_have_count(before + 1)


def dial(page) -> None:
    from playwright.sync_api import expect

    page.click("#sim-dial")
    expect(page.locator("#sim-transcript li")).to_have_count(1)


def test_scenarios_are_labelled_on_the_phone_with_a_transcript_and_the_node_highlighted(page):
    from playwright.sync_api import expect

    log_in(page, "viewer@example.org")
    open_tree(page)
    names = page.locator("#sim-scenario option").all_inner_texts()
    assert names[0] == "registered citizen with one application"
    assert "Core down (every action fails)" in names and "slow core" in names
    assert "Reference core service (live)" not in names, "a viewer cannot make live writes"
    expect(page.locator("#sim-stub-label")).to_have_text(
        "Stub: registered citizen, one application (ECZ-7K3Q9P)"
    )

    dial(page)
    press(page, "3", "ECZ-7K3Q9P")
    expect(page.locator("#screen")).to_contain_text("Status: Under review since 02/03/2025")
    expect(page.locator("#sim-transcript li")).to_have_count(3)
    expect(page.locator("#sim-transcript li").nth(1)).to_contain_text("> 3")
    expect(page.locator("#sim-transcript li").nth(2)).to_contain_text("ran get_application")
    node = page.locator("#screen").get_attribute("data-node")
    expect(page.locator("#graph g.node.current")).to_have_attribute("data-node", node)

    page.select_option("#sim-scenario", label="Core down (every action fails)")
    expect(page.locator("#sim-stub-label")).to_have_text("Stub: core down")
    expect(page.locator("#sim-transcript li")).to_have_count(0)
    dial(page)
    press(page, "3", "ECZ-7K3Q9P")
    expect(page.locator("#screen")).to_contain_text("END Sorry, the service is busy")

    page.select_option("#sim-scenario", label="slow core")
    dial(page)
    press(page, "2", "1", "1", "1", "4826")
    expect(page.locator("#screen")).to_contain_text("We will send your reference number by SMS")

    page.select_option("#sim-lang", "sw")
    page.check("#sim-both")
    dial(page)
    expect(page.locator("#screen")).to_contain_text("Karibu eCitizen")
    expect(page.locator("#screen-other")).to_contain_text("Welcome to eCitizen")
    assert page.errors == []


def test_save_a_simulator_run_as_a_journey_test(page, as_role):
    from playwright.sync_api import expect

    log_in(page, "editor@example.org")
    open_tree(page)
    before = page.locator("#journey-list details.journey").count()
    dial(page)
    press(page, "4", "1")
    expect(page.locator("#screen")).to_contain_text("ECZ-7K3Q9P Certificate of Good Conduct")
    page.click("#sim-save-test")
    expect(page.locator("#journey-list details.journey")).to_have_count(before + 1)
    recorded = page.locator("#journey-list details.journey").last
    expect(recorded).to_have_attribute("open", "")
    name = recorded.locator("input.journey-name")
    expect(name).to_be_focused()
    name.fill("my one application, recorded")
    name.press("Enter")
    name.dispatch_event("change")
    expect(recorded.locator("summary .journey-title")).to_have_text("my one application, recorded")
    expect(recorded.locator("tbody tr")).to_have_count(3)
    page.click("#save")
    expect(page.locator("#status")).to_contain_text("Saved revision 2")
    page.click("#test")
    expect(page.locator("#status")).to_contain_text("journey tests pass")
    saved = as_role("viewer").call("GET", DRAFT).get_json()["journeys"]["journeys"][-1]
    assert saved["name"] == "my one application, recorded"
    assert [next(iter(step)) for step in saved["steps"]] == ["dial", "send", "send"]
    assert set(saved["actions"]) == {
        "identify_caller",
        "check_registered",
        "list_my_applications",
        "get_application",
    }
    assert saved["steps"][-1]["expect"][0].startswith("ECZ-7K3Q9P Certificate of Good Conduct")
    assert page.errors == []


def test_journey_tests_are_a_list_to_rename_edit_add_and_delete(page, as_role):
    from playwright.sync_api import expect

    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, "editor@example.org")
    open_tree(page)
    items = page.locator("#journey-list details.journey")
    expect(items).to_have_count(len(SHIPPED_JOURNEYS))
    assert page.locator("#journeys-json").count() == 0, "no JSON blob"
    track = page.locator('#journey-list details.journey[data-name="track by reference"]')
    track.locator("> summary").click()
    expect_cell = track.locator('tr[data-step="2"] textarea.step-expect')
    expect(expect_cell).to_have_value(re.compile("Status: Under review since 02/03/2025"))
    expect_cell.fill("Status: Nowhere")
    page.click("#test")
    expect(page.locator("#status")).to_contain_text("failing tests")
    failed = page.locator('#journey-list details.journey.failed[data-name="track by reference"]')
    expect(failed.locator(".journey-failure")).to_contain_text(
        "Step 3: expected 'Status: Nowhere' on the screen"
    )
    failed.locator('tr[data-step="2"] textarea.step-expect').fill("Status: Under review")
    page.click("#test")
    expect(page.locator("#status")).to_contain_text(f"all {len(SHIPPED_JOURNEYS)} journey tests pass")

    page.click("#add-journey")
    expect(items).to_have_count(len(SHIPPED_JOURNEYS) + 1)
    added = items.last
    added.locator("button.add-step").click()
    added.locator('tr[data-step="1"] input.step-value').fill("7")
    added.locator('tr[data-step="1"] textarea.step-expect').fill("Help\n1. Support line")
    page.click("#test")
    expect(page.locator("#status")).to_contain_text(f"all {len(SHIPPED_JOURNEYS) + 1} journey tests pass")
    added.locator("button.delete-journey").click()
    expect(items).to_have_count(len(SHIPPED_JOURNEYS))
    page.click("#save")
    expect(page.locator("#status")).to_contain_text("Saved revision 2")
    journeys = as_role("viewer").call("GET", DRAFT).get_json()["journeys"]["journeys"]
    assert len(journeys) == len(SHIPPED_JOURNEYS)
    track = next(j for j in journeys if j["name"] == "track by reference")
    assert track["steps"][2]["expect"] == "Status: Under review"
    assert page.errors == []


# -- live: the reference core service over real HTTP ---------------------------------------------
@pytest.fixture()
def core(tmp_path) -> Iterator[CoreServer]:
    server = CoreServer(core_config(tmp_path)).start()
    yield server
    server.stop()


@pytest.fixture()
def console_app(console_redis_url, database_url, core):
    """This module's app calls the reference core service started for the test."""
    return make_console_app(console_redis_url, database_url, core_url=core.url)


def applications(core: CoreServer) -> list:
    from sqlalchemy import select

    from stand_ins.core_service.models import Application

    with core.flask_app.extensions["core"].session_factory() as db:
        return list(db.scalars(select(Application)).all())


def test_register_apply_and_track_against_the_reference_core_service(page, core):
    from playwright.sync_api import expect

    log_in(page, "editor@example.org")
    open_tree(page)
    page.select_option("#sim-scenario", label="Reference core service (live)")
    expect(page.locator("#sim-stub-label")).to_have_text("Live: the core service, as the gateway calls it")
    page.fill("#sim-phone", "+254722000111")
    screen = page.locator("#screen")

    person = CoreClient(core.url).dev_people(1)[0]  # someone in the core's population register
    dial(page)
    press(page, "1")
    expect(screen).to_contain_text("Enter your national ID number")
    born = person.date_of_birth.strftime("%d/%m/%Y")
    press(page, person.national_id, person.first_name, person.last_name, born, "4826", "4826")
    expect(screen).to_contain_text(f"Thank you, {person.first_name}. You are registered on eCitizen.")

    dial(page)
    press(page, "2")
    expect(screen).to_contain_text("1. Police (DCI)")
    press(page, "1")
    expect(screen).to_contain_text("1. Good conduct")
    press(page, "1")
    expect(screen).to_contain_text("Purpose of the certificate (1/2)")
    press(page, "1")
    expect(screen).to_contain_text("County for fingerprints (2/2)")
    press(page, "Nairobi")
    expect(screen).to_contain_text("Fee: KES 1,050")
    press(page, "1")
    expect(screen).to_contain_text("Enter PIN to confirm")
    press(page, "4826")
    expect(screen).to_contain_text("Submitted. Reference number: ")
    reference = re.search(r"ECZ-[0-9A-Z]{6}", screen.inner_text()).group(0)
    # each key replays the run from the first screen: the recorded answers stand in for the
    # calls already made, so nothing is submitted twice
    press(page, "0")
    expect(screen).to_contain_text("Enter PIN to confirm")
    assert [a.reference for a in applications(core)] == [reference]

    dial(page)
    press(page, "3", reference)
    expect(screen).to_contain_text(reference)
    expect(screen).to_contain_text("Status: ")
    assert page.errors == []
