"""The operator console: menu drafts, versions and publishing; operators; the `/console` web UI and
the `/api/v1/menus` API. `init_console(app)` wires it into the gateway's app factory."""

from console.setup import init_console

__all__ = ["init_console"]
