"""`flask --app app sms …`: the SMS worker, a one-off sweep, and a look at the outbox."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from sms.worker import WorkerContext

sms_cli = AppGroup("sms", help="The SMS outbox and its worker.")


def worker_context(app, sender) -> WorkerContext:
    """The context SMS jobs run with, from the app this command built: its settings, database,
    outbox, session store (for the citizen's language) and audit trail, and `sender`."""
    channel = app.extensions["sms"]
    return WorkerContext(
        settings=channel.settings,
        database=channel.database,
        outbox=channel.outbox,
        sender=sender,
        language_of=channel.language_of,
        languages_of=channel.languages_of,
        trail=channel.trail,
    )


def _provider_sender():
    """The provider's `SmsSender`, made by the factory `create_app` chose (one per worker process)."""
    return current_app.extensions["sms_sender_factory"]()


@sms_cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--verbose", is_flag=True, help="Log every RQ job (noisy at volume).")
def sms_worker(burst: bool, verbose: bool) -> None:
    """Send SMS from the outbox: an RQ worker on SMS_QUEUE (no fork per job, so the database engine,
    the sender and its thread pool stay warm), RQ's scheduler for retries, and the sweeper."""
    from rq import Queue

    from common.jobs import SimpleContextWorker
    from common.redis_conn import queue_client
    from sms.worker import Sweeper

    app = current_app._get_current_object()
    settings = app.extensions["settings"]
    # Not the app's fail-fast client: a worker blocks on the queue far longer than a hop may wait.
    connection = queue_client(settings, "worker")
    context = worker_context(app, _provider_sender())
    sweeper = Sweeper(context, connection)
    sweeper.start()
    # Rows left by a worker that died holding the kick get a job now, not after the marker expires.
    context.outbox.kick(force=True)
    worker = SimpleContextWorker(
        [Queue(settings.sms_queue, connection=connection)], connection=connection, context=context
    )
    try:
        worker.work(burst=burst, with_scheduler=True, logging_level="INFO" if verbose else "WARNING")
    finally:
        sweeper.stop()
        context.close()


@sms_cli.command("sweep")
def sms_sweep() -> None:
    """Queue again what is stuck in the outbox and apply early delivery reports, once."""
    from sms.worker import sweep

    context = worker_context(current_app._get_current_object(), _provider_sender())
    try:
        click.echo(sweep(context))
    finally:
        context.close()


@sms_cli.command("outbox")
@click.option("--limit", default=20, show_default=True)
def sms_outbox(limit: int) -> None:
    """The newest outbox rows: id, status, template, masked phone, attempts, last error."""
    from sqlalchemy import select

    from common.phones import mask_phone
    from records.sms import SmsMessage

    with current_app.extensions["database"].session() as session:
        rows = session.scalars(select(SmsMessage).order_by(SmsMessage.id.desc()).limit(limit)).all()
    for row in rows:
        click.echo(
            f"{row.id:>7} {row.status:<10} {row.template:<32} {mask_phone(row.phone)} "
            f"attempts={row.attempts} {row.last_error or ''}"
        )
