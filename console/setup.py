"""Wire the console into the gateway app: the menu store, the login throttle, blueprints, CLI."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from console.api import bp as api_bp
from console.cli import operators_cli
from console.menu_store import MenuStore, UnknownTree
from console.passwords import PasswordWork
from console.releases import Releases, ReleaseWatcher
from console.throttle import LoginThrottle
from console.views import bp as console_bp
from menus.live import LiveTreeRegistry


def init_console(app: Flask) -> MenuStore:
    """Register `/console` and `/api/v1` and follow the versions published through Redis.

    Touches neither SQL nor Redis: seeding menu versions from the YAML trees is a deploy step
    (`flask --app app menus seed`, after `db upgrade`); a console request seeds once if it never ran.
    Needs `app.extensions` settings, redis, database and trees (a `LiveTreeRegistry`).
    """
    from citizen.actions import ACTION_NAMES

    settings = app.extensions["settings"]
    trees = app.extensions["trees"]
    if not isinstance(trees, LiveTreeRegistry):
        raise TypeError("the console needs the app's trees to be a menus.live.LiveTreeRegistry")
    trees.attach(app.extensions["redis"])
    store = MenuStore(
        app.extensions["database"],
        app.extensions["redis"],
        trees,
        screen_limit=settings.screen_limit,
        known_actions=ACTION_NAMES,
        trees_dir=settings.trees_dir,
    )
    app.extensions["menu_store"] = store
    store.releases = Releases(
        app.extensions["database"],
        app.extensions["redis"],
        trees,
        margin=settings.release_margin,
        min_sessions=settings.release_min_sessions,
    )
    if settings.release_check_interval_s > 0:
        # every gateway process checks; a Redis lease lets one of them act each round
        app.extensions["release_watcher"] = ReleaseWatcher(
            store.releases, settings.release_check_interval_s
        ).start()
    # Analytics pages and API are for operators too (analytics/access.py asks this check).
    from console.auth import analytics_check

    app.extensions["operator_check"] = analytics_check
    # argon2 on its own small pool per process, never on the threads that answer hops.
    app.extensions["passwords"] = PasswordWork.for_profile(
        settings.password_hash_profile, settings.password_hash_workers, settings.password_hash_queue
    )
    app.extensions["login_throttle"] = LoginThrottle(
        app.extensions["redis"],
        app.extensions["keys"].counters,
        max_failures=settings.login_max_failures,
        max_failures_per_ip=settings.login_max_failures_per_ip,
        window_s=settings.login_lockout_s,
    )
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.console_secure_cookie or settings.production,
        SESSION_COOKIE_NAME="console_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    # Keep the key order of tree documents (and so of nodes in the editor) through the JSON API.
    app.json.sort_keys = False
    app.register_blueprint(console_bp)
    app.register_blueprint(api_bp)
    app.cli.add_command(operators_cli)

    @app.errorhandler(UnknownTree)
    def unknown_tree(exc: UnknownTree):
        from console.auth import api_error

        return api_error(404, "unknown_tree", f"no tree '{exc.args[0]}'")

    return store
