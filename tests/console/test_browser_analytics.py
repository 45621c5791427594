"""Analytics inside the console, in Chromium: one navigation both ways, the drop-off map as the
editor's graph coloured by drop-off and readable at normal size, funnels labelled with screen texts,
versions by number, drop-off split by version, network and language, and a 390 px phone."""

from __future__ import annotations

import pytest

from audit.drain import Drainer, drain_client
from tests.console.conftest import SHIPPED_TREE, dial, log_in, open_tree

pytestmark = pytest.mark.browser


@pytest.fixture()
def sessions(console_app):
    """A few real sessions through the USSD callback, drained into the audit trail."""
    client = console_app.test_client()
    for number, keys in enumerate(["", "7", "7*1", "8", "8*2", "3", "9"]):
        session = f"analytics-{number}"
        transcript = ""
        dial(client, "", session_id=session)
        for key in [k for k in keys.split("*") if k]:
            transcript = f"{transcript}*{key}" if transcript else key
            dial(client, transcript, session_id=session)
    settings = console_app.extensions["settings"]
    Drainer(drain_client(settings.redis_url), console_app.extensions["database"]).drain_all()


def test_one_navigation_between_editing_and_analytics(page, sessions):
    from playwright.sync_api import expect

    log_in(page, "viewer@example.org")
    open_tree(page)
    page.click("#to-analytics")
    expect(page.locator("h1")).to_contain_text("Where citizens leave: eCitizen")
    expect(page.locator('nav.main-nav a[aria-current="page"]')).to_have_text("Drop-off map")
    page.click("#to-editor")
    page.wait_for_selector("#editor[data-loaded=yes]")
    page.click("nav.main-nav >> text=Analytics")
    expect(page.locator("h1")).to_have_text("Analytics")
    page.click("nav.main-nav >> text=Menus")
    expect(page.locator("h1")).to_contain_text("Menu trees")
    assert page.errors == []


def test_the_drop_off_map_is_the_editor_graph_readable_at_normal_size(page, sessions):
    from playwright.sync_api import expect

    log_in(page, "viewer@example.org")
    page.goto("/console/analytics/dropoff?tree=ecitizen")
    page.wait_for_selector("#heat-graph[data-ready=yes]")
    expect(page.locator("#heat-graph g.node[data-node]")).to_have_count(len(SHIPPED_TREE["nodes"]))
    assert page.locator("#heat-graph path.edge.error").count() > 10, "the same graph: error routes drawn"
    main = page.locator('#heat-graph g[data-node="main"]')
    expect(main.locator("text.node-title")).to_contain_text("left ·")
    assert "hsl(" in main.locator("rect").get_attribute("style")
    height = page.evaluate(
        """() => document.querySelector('#heat-graph g[data-node="main"] text.node-title')
                 .getBoundingClientRect().height"""
    )
    assert height >= 10, f"map text is {height:.1f} px tall"
    main.click()
    expect(page.locator("#heat-detail")).to_contain_text("Welcome to eCitizen (main): reached by 7")
    table = page.locator("#dropoff-table")
    expect(table.locator('tr[data-node="main"] td').first).to_contain_text("Welcome to eCitizen")

    page.click('#split a[data-split="network"]')
    expect(page.locator("#split-table thead")).to_contain_text("network")
    expect(page.locator('#split-table tr[data-node="main"] td').nth(1)).to_have_text("63902")
    page.click('#split a[data-split="lang"]')
    expect(page.locator('#split-table tr[data-node="main"]')).to_have_count(2)  # English and Kiswahili
    page.click('#split a[data-split="version"]')
    expect(page.locator('#split-table tr[data-node="main"] td').nth(1)).to_have_text("#1")
    options = page.locator("select[name=version] option").all_inner_texts()
    assert options == ["all", "#1"], "versions by number"
    assert page.errors == []


def test_funnels_are_labelled_with_screen_texts(page, sessions):
    from playwright.sync_api import expect

    log_in(page, "viewer@example.org")
    page.goto("/console/analytics?tree=ecitizen")
    register = page.locator('.funnel[data-journey="register"]')
    expect(register.locator("svg")).to_contain_text("Enter your national ID number")
    assert "reg_id" not in register.locator("svg").text_content()
    expect(page.locator("#summary")).to_contain_text("#1")
    assert page.errors == []


@pytest.mark.parametrize(
    "path", ["/console/analytics?tree=ecitizen", "/console/analytics/dropoff?tree=ecitizen"]
)
def test_analytics_pages_fit_a_390_px_phone(page, sessions, path):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, "viewer@example.org")
    page.goto(path)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"{path} is {width} px wide"
