"""Command-line tools, registered on the app: `flask --app app menus validate`, `… menus test`,
`… ussd dial`, `… db upgrade`, `… worker` (and the `sms`, `audit`, `operators` groups)."""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from pathlib import Path

import click
import requests
from flask import Flask, current_app
from flask.cli import AppGroup

from audit.cli import audit_cli
from citizen.actions import ACTION_NAMES
from menus.journeys import journeys_path, load_journeys, run_journeys, split_dial
from menus.loader import TreeError, load_tree_file, tree_files
from menus.validator import screen_warnings, validate_tree
from sms.cli import sms_cli

menus_cli = AppGroup("menus", help="Check and test the menu trees.")
ussd_cli = AppGroup("ussd", help="Try the USSD service from a terminal.")
db_cli = AppGroup("db", help="Database schema and retention.")


def _tree_paths(paths: tuple[str, ...]) -> list[Path]:
    if paths:
        return [Path(p) for p in paths]
    return tree_files(current_app.extensions["settings"].trees_dir)


@menus_cli.command("validate")
@click.argument("paths", nargs=-1)
def menus_validate(paths: tuple[str, ...]) -> None:
    """Validate trees (default: every tree under menus/trees/). Exit 1 on any problem."""
    limit = current_app.extensions["settings"].screen_limit
    failed = False
    for path in _tree_paths(paths):
        try:
            tree = load_tree_file(path)
        except TreeError as exc:
            problems = exc.problems
        else:
            problems = validate_tree(tree, limit, set(ACTION_NAMES))
        if problems:
            failed = True
            click.echo(f"✗ {path}: {len(problems)} problem(s)")
            for problem in problems:
                click.echo(f"  - {problem}")
        else:
            click.echo(f"✓ {path} (version {tree.version}, {len(tree.nodes)} nodes, limit {limit})")
            for warning in screen_warnings(tree, limit):
                click.echo(f"  ! {warning}")
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
@click.option(
    "--network",
    default=None,
    help="Network: 63902 (Safaricom) on Africa's Talking, mtn on Hubtel, MTN on Arkesel.",
)
@click.option(
    "--sms-wait", default=4.0, show_default=True, help="Seconds to wait for SMS after the end (0: no SMS)."
)
@click.option(
    "--aggregator",
    type=click.Choice(["africastalking", "hubtel", "arkesel"]),
    default="africastalking",
    show_default=True,
    help="Whose wire protocol to speak.",
)
def ussd_dial(
    dial_string: str, phone: str, url: str | None, network: str | None, sms_wait: float, aggregator: str
) -> None:
    """Dial the service like a phone would, over HTTP against a running gateway, one key at a time.

    Type a key and Enter after each screen; an empty line sends an empty reply; Ctrl-D hangs up.
    SMS the phone receives (read from the Africa's Talking sandbox, if running) are shown in a box.
    """
    import os

    from sms.phone_inbox import PhoneInbox, sms_box

    base = (url or f"http://127.0.0.1:{os.environ.get('PORT', '8000')}").rstrip("/")
    if aggregator != "africastalking":
        _dial_json_aggregator(aggregator, base, dial_string, phone, network, sms_wait)
        return
    network = network or "63902"
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


def _dial_json_aggregator(
    aggregator: str, base: str, dial_string: str, phone: str, network: str | None, sms_wait: float
) -> None:
    """`ussd dial` speaking Hubtel's or Arkesel's protocol (the phones in gateway/<aggregator>/)."""
    from gateway.arkesel.simulator import ArkeselPhone
    from gateway.hubtel.simulator import HubtelPhone
    from sms.phone_inbox import PhoneInbox, sms_box

    settings = current_app.extensions["settings"]
    if aggregator == "hubtel":
        secret = settings.hubtel_callback_secret
        codes = tuple(code for code, _tree in settings.hubtel_service_codes if code.endswith("#"))
        try:
            service_code, _keys = split_dial(dial_string, codes)
        except ValueError:
            raise click.ClickException(
                f"{dial_string!r} is none of HUBTEL_SERVICE_CODES {list(codes)}"
            ) from None
    else:
        secret = settings.arkesel_callback_secret
    endpoint = f"{base}/ussd/{aggregator}" + (f"?key={secret}" if secret else "")
    if aggregator == "hubtel":
        caller: HubtelPhone | ArkeselPhone = HubtelPhone(endpoint, phone, service_code, network or "mtn")
    else:
        caller = ArkeselPhone(endpoint, phone, network or "MTN")
    inbox = PhoneInbox(phone) if sms_wait > 0 else None
    exchange = caller.dial
    typed = dial_string
    while True:
        try:
            screen = exchange(typed)
        except requests.RequestException as exc:
            raise click.ClickException(f"cannot reach the gateway at {base}: {type(exc).__name__}") from None
        if screen.status == 404:
            raise click.ClickException(f"{aggregator} is not enabled on this gateway: add it to AGGREGATORS")
        click.echo("┌" + "─" * 40)
        for line in screen.text.split("\n"):
            click.echo("│ " + line)
        click.echo(f"└ {len(screen.text)} chars · HTTP {screen.status} · {screen.kind}")
        if inbox is not None:
            for message in inbox.wait_for_messages(sms_wait) if screen.final else inbox.new_messages():
                click.echo(sms_box(message))
        if screen.final:
            return
        try:
            typed = click.prompt(">", default="", show_default=False, prompt_suffix=" ").strip()
        except click.exceptions.Abort:
            click.echo("\n(hung up)")
            caller.hang_up()
            for message in inbox.wait_for_messages(sms_wait) if inbox is not None else ():
                click.echo(sms_box(message))
            return
        exchange = caller.press


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


@db_cli.command("purge")
@click.option("--days", type=int, default=None, help="Keep this many days (default RECORD_RETENTION_DAYS).")
def db_purge(days: int | None) -> None:
    """Delete SMS and USSD session-end records older than the retention period, now (the worker
    does it every RECORD_PURGE_INTERVAL_S); never an SMS still on its way."""
    from common.redis_conn import queue_client
    from records.retention import purge_once

    settings = current_app.extensions["settings"]
    retention = days or settings.record_retention_days
    if retention < 1:
        raise click.BadParameter("keep at least one day", param_hint="--days")
    counts = purge_once(
        current_app.extensions["database"], queue_client(settings), retention, settings.record_purge_batch
    )
    if counts is None:
        raise click.ClickException("another node is purging right now; try again later")
    click.echo(f"purged {counts.total} rows older than {retention} days: {vars(counts)}")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--no-audit-drain", is_flag=True, help="Don't drain the audit stream in this process.")
def worker(burst: bool, no_audit_drain: bool) -> None:
    """Run an RQ worker on this deployment's queue Redis and queues (and, in threads, the audit
    drainer, the sweep that announces dropped applications and the purge of old SMS and session-end
    records). Its jobs (queued applications) get the app's `QueuedWork`: core client, sealing key,
    outbox."""
    from rq import Queue

    from audit.drain import start_drainer_thread
    from citizen.queued import QUEUE_NAME
    from common.jobs import ContextWorker
    from common.redis_conn import queue_client
    from records.retention import start_record_purger

    settings = current_app.extensions["settings"]
    if not no_audit_drain:
        start_drainer_thread(
            queue_client(settings, "drain"),
            current_app.extensions["database"],
            settings.audit_drain_linger_ms / 1000,
        )
    start_draft_sweeper(current_app.extensions["drafts"], settings.draft_sweep_interval_s)
    start_record_purger(
        current_app.extensions["database"],
        queue_client(settings),
        settings.record_retention_days,
        settings.record_purge_interval_s,
        settings.record_purge_batch,
    )
    # Not the app's fail-fast client: a worker blocks on the queue far longer than a hop may wait.
    connection = queue_client(settings, "worker")
    queues = [Queue(QUEUE_NAME, connection=connection)]
    context = current_app.extensions["queued_work"]
    ContextWorker(queues, connection=connection, context=context).work(burst=burst, with_scheduler=True)


def start_draft_sweeper(drafts, interval_s: float) -> threading.Thread:
    """Every `interval_s`, announce the sessions that went silent mid-application. Safe with
    workers on several nodes: each due session is claimed by one of them."""

    def run() -> None:
        while True:
            time.sleep(interval_s)
            try:
                drafts.sweep()
            except Exception:  # Redis or SQL away for a moment: tried again next interval
                logging.getLogger("cli.drafts").exception("draft sweep failed")

    thread = threading.Thread(target=run, name="draft-sweeper", daemon=True)
    thread.start()
    return thread


def register_commands(app: Flask) -> None:
    app.cli.add_command(sms_cli)
    app.cli.add_command(menus_cli)
    app.cli.add_command(ussd_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(worker)
    app.cli.add_command(audit_cli)
