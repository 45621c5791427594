"""Fixtures for the console: the project-wide Redis, a migrated database per test (SQLite and
PostgreSQL, see tests/conftest.py) with the menu versions seeded, an app, and operators of every role.

Names start with `console_` so they never shadow the project-wide fixtures in tests/conftest.py.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml
from werkzeug.serving import make_server

from config import ROOT
from tests.support import free_port

# The shipped eCitizen tree as the console first loads it (the seed YAML).
SHIPPED_TREE = yaml.safe_load((ROOT / "menus" / "trees" / "ecitizen.yaml").read_text(encoding="utf-8"))
SHIPPED_JOURNEYS = yaml.safe_load(
    (ROOT / "menus" / "trees" / "ecitizen.journeys.yaml").read_text(encoding="utf-8")
)["journeys"]

os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ.setdefault("LOG_LEVEL", "WARNING")

PASSWORD = "correct horse battery"
SERVICE = "*384*123#"
PHONE = "+254712345678"
ROLES = ("viewer", "editor", "publisher", "admin")


@pytest.fixture(scope="session")
def console_redis_url(redis_server) -> str:
    """The project-wide Redis (tests/conftest.py)."""
    return redis_server.url


def make_console_app(redis_url: str, database_url: str, **overrides):
    """A fresh app on an emptied Redis and `database_url` (a migrated, empty database: the
    `database_url` fixture of tests/conftest.py), menus seeded, with one operator of every role."""
    from app import create_app
    from config import Settings
    from console.operators import create_operator

    redis.Redis.from_url(redis_url).flushdb()
    values = {
        "redis_url": redis_url,
        "database_url": database_url,
        "log_level": "WARNING",
        "log_format": "console",
        # nothing listens here: a test that wants the core service starts one (never `make run`'s)
        "core_url": f"http://127.0.0.1:{free_port()}",
        # Production argon2 costs on purpose; tests only need it to be argon2.
        "password_hash_profile": "cheapest",
    }
    settings = Settings.from_env(**{**values, **overrides})
    application = create_app(settings)
    application.config["TESTING"] = True
    assert application.extensions["menu_store"].start()  # what `flask --app app menus seed` does
    with application.extensions["database"].session() as db:
        for role in ROLES:
            create_operator(
                db, f"{role}@example.org", PASSWORD, role, passwords=application.extensions["passwords"]
            )
    return application


@pytest.fixture()
def console_app(console_redis_url: str, database_url: str):
    return make_console_app(console_redis_url, database_url)


def login(client, email: str, password: str = PASSWORD):
    """Log a test client in through the real form (CSRF token included); returns the response."""
    client.get("/console/login")
    with client.session_transaction() as session:
        token = session["csrf"]
    return client.post("/console/login", data={"email": email, "password": password, "csrf_token": token})


class ConsoleClient:
    """A logged-in browser-like client: sends the session's CSRF token on every call."""

    def __init__(self, client, role: str) -> None:
        self.client = client
        response = login(client, f"{role}@example.org")
        assert response.status_code == 302, response.get_data(as_text=True)
        with client.session_transaction() as session:
            self.csrf = session["csrf"]

    def call(self, method: str, path: str, json=None):
        return self.client.open(path, method=method, json=json, headers={"X-CSRF-Token": self.csrf})


@pytest.fixture()
def as_role(console_app):
    def make(role: str) -> ConsoleClient:
        return ConsoleClient(console_app.test_client(), role)

    return make


def dial(client, text: str = "", session_id: str = "ATUid_console1", phone: str = PHONE) -> str:
    response = client.post(
        "/ussd/africastalking",
        data={
            "sessionId": session_id,
            "serviceCode": SERVICE,
            "phoneNumber": phone,
            "networkCode": "63902",
            "text": text,
        },
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


# -- the browser (Debian's Chromium driven by Playwright) -------------------------------------------
# Debian's headless shell (`apt-get install chromium-headless-shell`): the same Chromium build
# without the desktop browser around it, which Playwright also runs for headless tests. It costs
# about 0.8 s of CPU per context, login and tree load where the full browser costs 1.9 s. The full
# browser is the fallback on a machine that has only it.
HEADLESS_SHELL = "/usr/lib/chromium/chromium-headless-shell"
CHROMIUM = HEADLESS_SHELL if Path(HEADLESS_SHELL).exists() else "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        message = f"needs Debian's Chromium at {HEADLESS_SHELL} (apt-get install chromium-headless-shell)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run the browser tests, not skip them quietly
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    # The same patience for assertions as for actions: a loaded CI machine answers in seconds.
    sync_api.expect.set_options(timeout=10_000)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def serve(application) -> tuple[str, object]:
    """Serve a WSGI app on a free 127.0.0.1 port from a thread: (base URL, server)."""
    server = make_server("127.0.0.1", 0, application, threaded=True)
    # A short poll: shutdown() waits for the loop to look, 0.5 s per test at the default.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


@pytest.fixture()
def live_server(console_app) -> Iterator[str]:
    url, server = serve(console_app)
    yield url
    server.shutdown()


def _javascript_error(message) -> bool:
    """A console error that is not the browser reporting a 4xx the page asked for and handled."""
    if message.type != "error":
        return False
    return not re.search(r"Failed to load resource: .* status of 4\d\d", message.text)


class PageErrors(list):
    """JavaScript errors and failed requests seen by a page; a test ends by asserting none."""


@pytest.fixture()
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors = PageErrors()
    tab.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    tab.on("console", lambda msg: _javascript_error(msg) and errors.append(f"console: {msg.text}"))
    tab.errors = errors
    yield tab
    context.close()


def log_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/console/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_url("**/console/")


def open_tree(page, tree: str = "ecitizen") -> None:
    """Open the editor and wait until the draft is loaded and the graph drawn."""
    page.goto(f"/console/trees/{tree}")
    page.wait_for_selector("#editor[data-loaded=yes]")
    page.wait_for_selector("#graph[data-ready=yes]")
