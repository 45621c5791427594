"""Who is asking, and may they: session-cookie logins, bearer tokens, roles and CSRF.

Browser calls carry the Flask session cookie (HttpOnly, SameSite=Lax, Secure in production) and, on
anything that changes state, the session's CSRF token in `X-CSRF-Token` or a `csrf_token` form
field. The cookie also carries the operator's session generation: logout, a password change and
deactivation move the generation on in SQL, so every cookie issued before is refused from then on,
on every gateway process (a signed cookie alone could not be taken back). Automation sends
`Authorization: Bearer <token>` instead: no cookie, so no CSRF check; the token's scope caps its
role and an expired or revoked token is refused. Only the console and API
blueprints run these checks; the USSD/SMS/webhook blueprints never see them.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any

from flask import current_app, g, jsonify, redirect, request, session, url_for

from console.operators import Actor, actor_of, end_sessions, operator_for_token, record
from records.operators import Operator

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def api_error(status: int, error: str, message: str, problems: list[dict[str, Any]] | None = None, **extra):
    """The API's one error shape: `{"error", "message", "problems": [{"node", "message"}]}`."""
    body = {"error": error, "message": message, "problems": problems or [], **extra}
    return jsonify(body), status


def csrf_token() -> str:
    """The session's CSRF token, made on first use."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def login(operator: Operator) -> None:
    session.clear()  # a fresh session (and CSRF token) at every login
    session.permanent = True
    session["operator_id"] = operator.id
    session["generation"] = operator.session_generation or 0
    session["csrf"] = secrets.token_urlsafe(32)


def logout() -> None:
    """End this operator's console sessions, on this browser and every other one."""
    operator_id = session.get("operator_id")
    if operator_id is not None:
        with current_app.extensions["database"].session() as db:
            operator = db.get(Operator, operator_id)
            if operator is not None and operator.session_generation == session.get("generation"):
                end_sessions(operator)
                record(db, actor_of(operator), "logout")
    session.clear()


def load_actor() -> None:
    """Set `g.actor` (or None) and `g.via_token` from the bearer token or the session cookie."""
    g.actor, g.via_token = None, False
    database = current_app.extensions["database"]
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        g.via_token = True
        with database.session() as db:
            found = operator_for_token(db, header[7:].strip())
            g.actor = actor_of(*found) if found else None
        return
    operator_id = session.get("operator_id")
    if operator_id is not None:
        with database.session() as db:
            operator = db.get(Operator, operator_id)
            current = (
                operator is not None
                and operator.active
                and operator.session_generation == session.get("generation")
            )
            if current:
                g.actor = actor_of(operator)
            else:
                session.clear()


def csrf_ok() -> bool:
    """True for safe methods, token-authenticated calls, and requests carrying the session's token."""
    if request.method in SAFE_METHODS or g.get("via_token"):
        return True
    expected = session.get("csrf")
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    return bool(expected) and hmac.compare_digest(str(expected), str(sent))


def current_actor() -> Actor | None:
    return g.get("actor")


def requires(role: str, page: bool = False) -> Callable:
    """Allow the view to `role` and above: 401 (or the login page) for nobody, 403 for too low a role."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any):
            actor = current_actor()
            if actor is None:
                if page:
                    return redirect(url_for("console.login", next=request.path))
                return api_error(401, "unauthorized", "log in or send an API token (Authorization: Bearer …)")
            if not actor.can(role):
                message = f"this needs the {role} role; you are {actor.role}"
                if page:
                    return message, 403
                return api_error(403, "forbidden", message)
            return view(*args, **kwargs)

        return guarded

    return decorate


def analytics_check():
    """Who may see analytics (installed as `app.extensions["operator_check"]`): a logged-in operator
    of any role, or automation presenting ANALYTICS_TOKEN. None allows; a response refuses."""
    if "actor" not in g:
        load_actor()
    actor = current_actor()
    if actor is not None and actor.can("viewer"):
        return None
    token = current_app.extensions["settings"].analytics_token
    header = request.headers.get("Authorization", "")
    bearer = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if token and bearer and hmac.compare_digest(bearer.encode(), token.encode()):
        return None
    if request.path.startswith("/console"):
        return redirect(url_for("console.login", next=request.path))
    return api_error(401, "unauthorized", "log in, or send Authorization: Bearer <API or analytics token>")
