"""Command-line tools, registered on the app: `flask --app app menus validate`, `… menus test`,
`… ussd dial`, `… db upgrade`, `… worker`."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import click
import requests
from flask import Flask, current_app
from flask.cli import AppGroup

from menus.journeys import journeys_path, load_journeys, run_journeys, split_dial
from menus.loader import TreeError, load_tree_file, tree_files
from menus.validator import validate_tree

menus_cli = AppGroup("menus", help="Check and test the menu trees.")
ussd_cli = AppGroup("ussd", help="Try the USSD service from a terminal.")
db_cli = AppGroup("db", help="Database schema.")


def _tree_paths(paths: tuple[str, ...]) -> list[Path]:
    if paths:
        return [Path(p) for p in paths]
    return tree_files(current_app.extensions["settings"].trees_dir)


@menus_cli.command("validate")
@click.argument("paths", nargs=-1)
def menus_validate(paths: tuple[str, ...]) -> None:
    """Validate trees (default: every tree under menus/trees/). Exit 1 on any problem."""
    from citizen.registry import known_actions

    limit = current_app.extensions["settings"].screen_limit
    failed = False
    for path in _tree_paths(paths):
        try:
            tree = load_tree_file(path)
        except TreeError as exc:
            problems = exc.problems
        else:
            problems = validate_tree(tree, limit, known_actions())
        if problems:
            failed = True
            click.echo(f"✗ {path}: {len(problems)} problem(s)")
            for problem in problems:
                click.echo(f"  - {problem}")
        else:
            click.echo(f"✓ {path} (version {tree.version}, {len(tree.nodes)} nodes, limit {limit})")
    sys.exit(1 if failed else 0)


@menus_cli.command("test")
@click.argument("paths", nargs=-1)
def menus_test(paths: tuple[str, ...]) -> None:
    """Run each tree's journey file (`<tree>.journeys.yaml`). Exit 1 on any failure."""
    limit = current_app.extensions["settings"].screen_limit
    failed = False
    for path in _tree_paths(paths):
        journeys = journeys_path(path)
        if not journeys.exists():
            click.echo(f"- {path}: no journey file {journeys.name}")
            continue
        report = run_journeys(load_tree_file(path), load_journeys(journeys), limit)
        for name in report.passed:
            click.echo(f"✓ {name}")
        for failure in report.failures:
            failed = True
            click.echo(f"✗ {failure}")
        click.echo(f"{path.name}: {len(report.passed)} passed, {len(report.failures)} failed")
    sys.exit(1 if failed else 0)


@ussd_cli.command("dial")
@click.argument("dial_string")
@click.option("--phone", default="+254712345678", show_default=True, help="The caller's number.")
@click.option(
    "--url", envvar="GATEWAY_URL", default=None, help="Gateway base URL (default http://127.0.0.1:$PORT)."
)
@click.option("--network", default="63902", show_default=True, help="Network code (63902 Safaricom).")
@click.option(
    "--sms-wait", default=4.0, show_default=True, help="Seconds to wait for SMS after the end (0: no SMS)."
)
def ussd_dial(dial_string: str, phone: str, url: str | None, network: str, sms_wait: float) -> None:
    """Dial the service like a phone would, over HTTP against a running gateway, one key at a time.

    Type a key and Enter after each screen; an empty line sends an empty reply; Ctrl-D hangs up.
    SMS the phone receives (read from the Africa's Talking sandbox, if running) are shown in a box.
    """
    import os

    from sms.phone_inbox import PhoneInbox, sms_box

    base = (url or f"http://127.0.0.1:{os.environ.get('PORT', '8000')}").rstrip("/")
    secret = os.environ.get("AT_CALLBACK_SECRET", "")
    endpoint = f"{base}/ussd/africastalking" + (f"?key={secret}" if secret else "")
    service_code, keys = _service_code_of(dial_string)
    session_id = "SIM" + uuid.uuid4().hex
    inbox = PhoneInbox(phone) if sms_wait > 0 else None
    typed = list(keys)
    while True:
        transcript = "*".join(typed)
        form = {
            "sessionId": session_id,
            "serviceCode": service_code,
            "phoneNumber": phone,
            "networkCode": network,
            "text": transcript,
        }
        try:
            response = requests.post(endpoint, data=form, timeout=15)
        except requests.RequestException as exc:
            raise click.ClickException(f"cannot reach the gateway at {base}: {type(exc).__name__}") from None
        body = response.text
        click.echo("┌" + "─" * 40)
        for line in body[4:].split("\n"):
            click.echo("│ " + line)
        click.echo(f"└ {len(body)} chars · HTTP {response.status_code} · {body[:3]}")
        final = not body.startswith("CON ")
        if inbox is not None:
            for message in inbox.wait_for_messages(sms_wait) if final else inbox.new_messages():
                click.echo(sms_box(message))
        if final:
            return
        try:
            key = click.prompt(">", default="", show_default=False, prompt_suffix=" ")
        except click.exceptions.Abort:
            click.echo("\n(hung up)")
            for message in inbox.wait_for_messages(sms_wait) if inbox is not None else ():
                click.echo(sms_box(message))
            return
        typed.append(key.strip())


def _service_code_of(dial_string: str) -> tuple[str, list[str]]:
    trees = current_app.extensions["trees"]
    codes = tuple(trees.service_codes())
    try:
        return split_dial(dial_string, codes)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@menus_cli.command("seed")
def menus_seed() -> None:
    """Make each YAML tree version 1 in SQL (once; a changed file the operators never touched is
    published again) and announce SQL's live versions in Redis. Run after `db upgrade`."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    store = current_app.extensions["menu_store"]
    try:
        seeded = store.seed()
        store.sync_redis()
    except (OperationalError, ProgrammingError) as exc:
        raise click.ClickException(
            f"no menu tables ({type(exc).__name__}): run `flask --app app db upgrade` first"
        ) from None
    click.echo(f"menu versions seeded: {', '.join(seeded) or 'none new'}; live versions announced in Redis")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the gateway's tables (Alembic) in DATABASE_URL."""
    current_app.extensions["database"].upgrade()
    click.echo(
        f"database at {current_app.extensions['database'].engine.url.render_as_string()} is up to date"
    )


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--no-audit-drain", is_flag=True, help="Don't drain the audit stream in this process.")
def worker(burst: bool, no_audit_drain: bool) -> None:
    """Run an RQ worker on this deployment's Redis and queues (and the audit drainer in a thread)."""
    import redis
    from rq import Queue, Worker

    from audit.drain import start_drainer_thread

    settings = current_app.extensions["settings"]
    if not no_audit_drain:
        start_drainer_thread(settings.redis_url, current_app.extensions["database"])
    # Not the app's fail-fast client: a worker blocks on the queue far longer than a hop may wait.
    connection = redis.Redis.from_url(settings.redis_url)
    queues = [Queue(name, connection=connection) for name in ("default",)]
    Worker(queues, connection=connection).work(burst=burst, with_scheduler=True)


def register_commands(app: Flask) -> None:
    from sms.cli import sms_cli

    app.cli.add_command(sms_cli)
    app.cli.add_command(menus_cli)
    app.cli.add_command(ussd_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(worker)
    from audit.cli import audit_cli

    app.cli.add_command(audit_cli)
