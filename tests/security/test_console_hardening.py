"""The operator console, attacked: a stolen cookie after logout and after a password change, a
deactivated operator and their tokens, common passwords, framing and sniffing, tokens that expire,
climb above their scope or outlive the token that minted them, a burst of password guesses, and
someone locking an operator out of their own account from elsewhere."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from records.operators import ApiToken, Operator
from tests.console.conftest import PASSWORD, login

DRAFT = "/api/v1/menus/ecitizen/draft"
COOKIE = "console_session"
NEW_PASSWORD = "Mvua ya masika 2026 ni nzuri"


def stolen(console_app, client):
    """Another browser holding a copy of `client`'s console cookie."""
    thief = console_app.test_client()
    thief.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    return thief


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---- sessions end on the server ----------------------------------------------------------------


def test_a_cookie_copied_before_logout_is_refused_after_it(as_role, console_app):
    editor = as_role("editor")
    thief = stolen(console_app, editor.client)
    assert thief.get(DRAFT).status_code == 200
    editor.client.post("/console/logout", data={"csrf_token": editor.csrf})
    assert thief.get(DRAFT).status_code == 401
    assert thief.get("/console/").status_code == 302  # to the login page


def test_a_password_change_ends_every_other_session_and_the_old_password(as_role, console_app):
    editor = as_role("editor")
    elsewhere = as_role("editor")
    thief = stolen(console_app, editor.client)
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    changed = editor.call("POST", "/api/v1/operators/me/password", body)
    assert changed.status_code == 200
    editor.csrf = changed.json["csrf"]
    assert editor.call("GET", DRAFT).status_code == 200  # this browser carries on
    assert elsewhere.call("GET", DRAFT).status_code == 401
    assert thief.get(DRAFT).status_code == 401
    assert login(console_app.test_client(), "editor@example.org").status_code == 401
    assert login(console_app.test_client(), "editor@example.org", NEW_PASSWORD).status_code == 302


def test_a_password_change_needs_the_current_password_and_a_login(as_role):
    editor = as_role("editor")
    wrong = editor.call(
        "POST", "/api/v1/operators/me/password", {"current_password": "nope", "new_password": NEW_PASSWORD}
    )
    assert wrong.status_code == 422
    token = editor.call("POST", "/api/v1/tokens", {"name": "ci"}).json["token"]
    by_token = editor.client.post(
        "/api/v1/operators/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(token),
    )
    assert by_token.status_code == 403


@pytest.mark.parametrize(
    "password",
    [
        "password123",
        "qwertyuiop",
        "1234567890",
        "iloveyou2024!",
        "Sunshine1234",
        "aaaaaaaaaaaa",
    ],
)
def test_common_and_guessable_passwords_are_refused(as_role, password):
    editor = as_role("editor")
    answer = editor.call(
        "POST", "/api/v1/operators/me/password", {"current_password": PASSWORD, "new_password": password}
    )
    assert answer.status_code == 422 and answer.json["error"] == "bad_password"
    admin = as_role("admin")
    made = admin.call(
        "POST", "/api/v1/operators", {"email": "new@example.org", "password": password, "role": "viewer"}
    )
    assert made.status_code == 422


def test_a_password_with_the_operators_own_email_name_is_refused(as_role):
    body = {"current_password": PASSWORD, "new_password": "editor-at-work-2026"}
    assert as_role("editor").call("POST", "/api/v1/operators/me/password", body).status_code == 422


# ---- deactivation --------------------------------------------------------------------------------


def operator_id(console_app, email: str) -> int:
    with console_app.extensions["database"].session() as db:
        return db.scalar(select(Operator.id).where(Operator.email == email))


def test_a_deactivated_operator_loses_sessions_tokens_and_login(as_role, console_app):
    editor = as_role("editor")
    token = editor.call("POST", "/api/v1/tokens", {"name": "ci"}).json["token"]
    assert console_app.test_client().get(DRAFT, headers=bearer(token)).status_code == 200
    admin = as_role("admin")
    target = operator_id(console_app, "editor@example.org")
    assert as_role("publisher").call("POST", f"/api/v1/operators/{target}/deactivate").status_code == 403
    done = admin.call("POST", f"/api/v1/operators/{target}/deactivate")
    assert done.status_code == 200 and done.json["tokens_revoked"] == 1
    assert editor.call("GET", DRAFT).status_code == 401
    assert console_app.test_client().get(DRAFT, headers=bearer(token)).status_code == 401
    assert login(console_app.test_client(), "editor@example.org").status_code == 401
    myself = operator_id(console_app, "admin@example.org")
    assert admin.call("POST", f"/api/v1/operators/{myself}/deactivate").status_code == 422


def test_the_cli_changes_passwords_and_deactivates(as_role, console_app):
    viewer = as_role("viewer")
    runner = console_app.test_cli_runner()
    weak = runner.invoke(
        args=["operators", "set-password", "viewer@example.org", "--password-stdin"], input="password1234\n"
    )
    assert weak.exit_code != 0 and "common" in weak.output
    changed = runner.invoke(
        args=["operators", "set-password", "viewer@example.org", "--password-stdin"],
        input=f"{NEW_PASSWORD}\n",
    )
    assert changed.exit_code == 0, changed.output
    assert viewer.call("GET", DRAFT).status_code == 401
    gone = runner.invoke(args=["operators", "deactivate", "viewer@example.org"])
    assert gone.exit_code == 0 and "deactivated" in gone.output
    assert login(console_app.test_client(), "viewer@example.org", NEW_PASSWORD).status_code == 401


# ---- headers -------------------------------------------------------------------------------------


def test_every_response_forbids_framing_and_sniffing(console_app):
    client = console_app.test_client()
    ussd = {
        "sessionId": "h",
        "serviceCode": "*384*123#",
        "phoneNumber": "+254712345678",
        "networkCode": "1",
        "text": "",
    }
    for response in (
        client.get("/console/login"),
        client.get(DRAFT),
        client.get("/healthz"),
        client.get("/no/such/page"),
        client.post("/ussd/africastalking", data=ussd),
    ):
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "script-src 'self'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "Strict-Transport-Security" not in response.headers  # development: plain HTTP


# ---- tokens --------------------------------------------------------------------------------------


def test_an_expired_token_is_refused(as_role, console_app):
    editor = as_role("editor")
    made = editor.call("POST", "/api/v1/tokens", {"name": "short", "days": 1})
    assert made.status_code == 201
    client = console_app.test_client()
    assert client.get(DRAFT, headers=bearer(made.json["token"])).status_code == 200
    with console_app.extensions["database"].session() as db:
        db.get(ApiToken, made.json["id"]).expires_at = datetime.utcnow() - timedelta(seconds=1)  # noqa: DTZ003
    assert client.get(DRAFT, headers=bearer(made.json["token"])).status_code == 401
    too_long = editor.call("POST", "/api/v1/tokens", {"name": "forever", "days": 10_000})
    assert too_long.status_code == 422


def test_a_token_acts_no_higher_than_its_scope(as_role, console_app):
    editor = as_role("editor")
    assert editor.call("POST", "/api/v1/tokens", {"name": "up", "scope": "admin"}).status_code == 422
    read_only = editor.call("POST", "/api/v1/tokens", {"name": "ro", "scope": "viewer"}).json["token"]
    client = console_app.test_client()
    draft = client.get(DRAFT, headers=bearer(read_only)).json
    saved = client.put(
        DRAFT, json={"revision": draft["revision"], "document": draft["document"]}, headers=bearer(read_only)
    )
    assert saved.status_code == 403


def test_a_token_cannot_mint_a_token_that_outlives_or_outranks_it_and_revocation_cascades(
    as_role, console_app
):
    publisher = as_role("publisher")
    parent = publisher.call("POST", "/api/v1/tokens", {"name": "parent", "days": 2, "scope": "editor"}).json
    client = console_app.test_client()
    higher = client.post(
        "/api/v1/tokens", json={"name": "up", "scope": "publisher"}, headers=bearer(parent["token"])
    )
    assert higher.status_code == 422
    child = client.post(
        "/api/v1/tokens", json={"name": "child", "days": 300}, headers=bearer(parent["token"])
    )
    assert child.status_code == 201 and child.json["scope"] == "editor"
    assert child.json["expires_at"] <= parent["expires_at"]  # asked for 300 days, got the parent's 2
    grandchild = client.post("/api/v1/tokens", json={"name": "gc"}, headers=bearer(child.json["token"])).json
    for token in (child.json["token"], grandchild["token"]):
        assert client.get(DRAFT, headers=bearer(token)).status_code == 200
    assert publisher.call("DELETE", f"/api/v1/tokens/{parent['id']}").status_code == 200
    for token in (parent["token"], child.json["token"], grandchild["token"]):
        assert client.get(DRAFT, headers=bearer(token)).status_code == 401


# ---- the login throttle --------------------------------------------------------------------------


def attempt(console_app, email: str, password: str, address: str, results: list[int], forwarded: str = ""):
    client = console_app.test_client()
    base = {"REMOTE_ADDR": address}
    client.get("/console/login", environ_base=base)
    with client.session_transaction() as session:
        token = session["csrf"]
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    answer = client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base=base,
        headers=headers,
    )
    results.append(answer.status_code)


def test_a_burst_of_guesses_gets_no_more_tries_than_a_patient_attacker(console_app):
    results: list[int] = []
    threads = [
        threading.Thread(
            target=attempt, args=(console_app, "admin@example.org", f"guess-{n}", "198.51.100.9", results)
        )
        for n in range(30)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # at most five passwords checked; the rest refused unchecked (429), or told the server is busy
    # hashing (503, given back: not a try)
    assert len(results) == 30 and results.count(401) <= 5
    assert set(results) <= {401, 429, 503} and 429 in results
    after: list[int] = []
    attempt(console_app, "admin@example.org", PASSWORD, "198.51.100.9", after)
    assert after == [429] if results.count(401) == 5 else after in ([302], [429])


def test_a_stranger_cannot_lock_an_operator_out_of_their_own_account(console_app):
    results: list[int] = []
    for n in range(12):
        attempt(console_app, "editor@example.org", f"guess-{n}", "198.51.100.66", results)
    assert results[-1] == 429
    at_desk: list[int] = []
    attempt(console_app, "editor@example.org", PASSWORD, "192.0.2.10", at_desk)
    assert at_desk == [302]


def test_behind_a_proxy_a_forged_forwarded_address_does_not_reset_the_count(console_redis_url, tmp_path):
    from app import create_app
    from config import Settings
    from console.operators import create_operator

    settings = Settings.from_env(
        redis_url=console_redis_url,
        database_url=f"sqlite:///{tmp_path / 'g.db'}",
        password_hash_profile="cheapest",
    )
    app = create_app(replace(settings, trusted_proxy_count=1))
    app.extensions["database"].upgrade()
    with app.extensions["database"].session() as db:
        create_operator(db, "ops@example.org", PASSWORD, "editor", passwords=app.extensions["passwords"])
    results: list[int] = []
    for n in range(8):
        # the attacker writes a new address each time; the balancer appends the one it saw
        attempt(
            app,
            "ops@example.org",
            "wrong password",
            "10.0.0.2",
            results,
            forwarded=f"192.0.2.{n}, 198.51.100.7",
        )
    assert results == [401] * 5 + [429] * 3
    at_desk: list[int] = []
    attempt(app, "ops@example.org", PASSWORD, "10.0.0.2", at_desk, forwarded="203.0.113.20")
    assert at_desk == [302]
