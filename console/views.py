"""`/console`: server-rendered pages; the tree editor page drives `/api/v1` from static/js/editor.js."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from console import auth
from console.operators import actor_of, check_password, record
from console.passwords import PasswordsBusy

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


@bp.before_request
def authenticate():
    current_app.extensions["menu_store"].ensure_started()
    auth.load_actor()
    if not auth.csrf_ok():
        return render_template(
            "message.html", title="Form expired", message="Reload the page and try again."
        ), 400
    return None


@bp.app_context_processor
def console_context() -> dict:
    path = request.path
    section = (
        "dropoff"
        if path.startswith("/console/analytics/dropoff")
        else ("analytics" if path.startswith("/console/analytics") else "menus")
    )
    return {"actor": g.get("actor"), "csrf_token": auth.csrf_token, "section": section}


def _client_ip() -> str:
    # The client's address when TRUSTED_PROXY_COUNT tells app.py how many proxies to believe.
    return request.remote_addr or "unknown"


def _safe_next(target: str | None) -> str:
    """Only same-site paths under /console: never an open redirect."""
    if target and target.startswith("/console") and not urlparse(target).netloc:
        return target
    return url_for("console.trees")


def _login_page(error: str, status: int, retry_after: int | None = None):
    page = render_template("login.html", next=request.form.get("next", ""), error=error)
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return page, status, headers


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""), error=None)
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    passwords = current_app.extensions["passwords"]
    if passwords.busy():  # answered before any Redis or SQL work: a flood costs little
        return _login_page("Many logins at once. Please try again in a few seconds.", 503, 3)
    throttle = current_app.extensions["login_throttle"]
    ip = _client_ip()
    wait = throttle.attempt(email, ip)
    if wait:
        minutes = max(wait // 60, 1)
        return _login_page(f"Too many failed logins. Try again in about {minutes} minute(s).", 429, wait)
    with current_app.extensions["database"].session() as db:
        try:
            operator = check_password(db, passwords, email, password)
        except PasswordsBusy:
            throttle.not_checked(email, ip)
            return _login_page("Many logins at once. Please try again in a few seconds.", 503, 3)
        if operator is None:
            return _login_page("Wrong email or password.", 401)
        auth.login(operator)
        g.actor = None
        record(db, actor_of(operator), "login", detail={"ip": ip})
    throttle.succeeded(email, ip)
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout():
    auth.logout()
    return redirect(url_for("console.login"))


@bp.get("/relogged")
@auth.requires("viewer", page=True)
def relogged():
    """Where "log in again" from an editor page lands: back to that tab, whose edits were kept."""
    return render_template(
        "message.html",
        title="You are logged in again",
        message="Go back to the tab you were editing in and press Continue: your edits are still there. "
        "You can close this tab.",
    )


@bp.get("/")
@auth.requires("viewer", page=True)
def trees():
    return render_template("trees.html", trees=current_app.extensions["menu_store"].summaries())


@bp.get("/trees/<tree_id>")
@auth.requires("viewer", page=True)
def tree(tree_id: str):
    store = current_app.extensions["menu_store"]
    store.draft(tree_id)  # 404 for an unknown tree
    return render_template("tree.html", tree_id=tree_id, screen_limit=store.screen_limit)
