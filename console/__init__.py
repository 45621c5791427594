"""The operator console: menu drafts, versions, staged releases and publishing; operators; the
`/console` web UI and the `/api/v1/menus` API. `console.setup.init_console(app)` wires it into the
gateway's app factory."""
