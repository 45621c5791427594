"""`flask --app app audit drain|verify|purge`."""

from __future__ import annotations

import signal
import sys
import threading

import click
from flask import current_app
from flask.cli import AppGroup

audit_cli = AppGroup("audit", help="The audit trail: drain it into SQL, verify its chain, purge old records.")


def _parts():
    from audit.drain import drain_client

    settings = current_app.extensions["settings"]
    client = drain_client(settings.queue_url, settings.redis_password, settings.redis_sentinel_password)
    return settings, client, current_app.extensions["database"]


@audit_cli.command("drain")
@click.option("--once", is_flag=True, help="Write what is waiting, then exit.")
def drain(once: bool) -> None:
    """Move audit events from Redis into SQL (the RQ worker also does this in a thread)."""
    from audit.drain import Drainer

    settings, client, database = _parts()
    drainer = Drainer(client, database, linger_s=settings.audit_drain_linger_ms / 1000)
    if once:
        click.echo(f"{drainer.drain_all()} audit records written")
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    drainer.run(stop)


@audit_cli.command("verify")
def verify() -> None:
    """Walk the hash chain; exit 1 naming the first changed, inserted or deleted record."""
    from audit.verify import verify_chain

    _settings, client, database = _parts()
    report = verify_chain(database, client)
    if report.problem is not None:
        click.echo(f"✗ audit chain broken: {report.problem}")
        click.echo(f"  ({report.checked} records verified before it, from {report.first_seq})")
        sys.exit(1)
    click.echo(f"✓ audit chain intact: {report.checked} records, {report.first_seq}–{report.last_seq}")


@audit_cli.command("purge")
@click.option("--days", type=int, default=None, help="Keep this many days (default AUDIT_RETENTION_DAYS).")
def purge_command(days: int | None) -> None:
    """Delete records older than the retention period, keeping the chain verifiable."""
    from audit.purge import PurgeRefused, purge

    settings, client, database = _parts()
    try:
        result = purge(
            database, client, days or settings.audit_retention_days, current_app.extensions["audit"]
        )
    except PurgeRefused as exc:
        click.echo(f"✗ {exc}")
        sys.exit(1)
    if result.purged:
        click.echo(f"purged {result.purged} audit records through {result.through_seq}")
    else:
        click.echo("nothing older than the retention period")
