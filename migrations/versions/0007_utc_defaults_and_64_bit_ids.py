"""UTC server defaults for every timestamp, and 64-bit ids for the tables that grow with traffic.

On PostgreSQL `now()` stored into `timestamp without time zone` is the server's local time. The
defaults become UTC, and the rows those defaults wrote are converted from the server's time zone
(the session's `TimeZone`, so run this with the same setting the servers ran with; in UTC nothing
changes). A draft's `updated_at` was a default only until an operator saved it, so only the drafts
last written by the system are converted.

The audit sequence, the SMS tables and the USSD session ends outgrow 32 bits: their ids (and the
columns that point at them) become BIGINT, and so do the sequences behind them (a serial's sequence
is itself 32-bit). SQLite needs none of this: CURRENT_TIMESTAMP is UTC there and INTEGER ids are
already 64-bit.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UTC_NOW = sa.text("(CURRENT_TIMESTAMP AT TIME ZONE 'UTC')")

# (table, column) whose server default was now().
DEFAULTED = [
    ("ussd_session_ends", "received_at"),
    ("menu_drafts", "updated_at"),
    ("menu_versions", "created_at"),
    ("menu_publications", "published_at"),
    ("operators", "created_at"),
    ("api_tokens", "created_at"),
    ("operator_actions", "at"),
]
# Rows whose value only a default could have written (others were set by the application, in UTC).
WRITTEN_BY_DEFAULT = {"menu_drafts": "updated_by = 'system'"}

# (table, id column with a sequence or None, columns that point at it)
WIDENED = [
    ("audit_records", None, ["seq"]),
    ("audit_checkpoints", None, ["through_seq"]),
    ("sms_outbox", "id", ["id"]),
    ("sms_status_history", "id", ["id", "message_id"]),
    ("sms_inbound", "id", ["id", "reply_id"]),
    ("sms_delivery_reports", "id", ["id", "message_id"]),
    ("ussd_session_ends", "id", ["id"]),
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in DEFAULTED:
        where = f" WHERE {WRITTEN_BY_DEFAULT[table]}" if table in WRITTEN_BY_DEFAULT else ""
        op.execute(
            f"UPDATE {table} SET {column} = "
            f"({column} AT TIME ZONE current_setting('TimeZone')) AT TIME ZONE 'UTC'{where}"
        )
        op.alter_column(table, column, server_default=UTC_NOW, existing_type=sa.DateTime())
    for table, serial, columns in WIDENED:
        for column in columns:
            op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer())
        if serial:
            op.execute(f"ALTER SEQUENCE {_sequence(table, serial)} AS bigint")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, serial, columns in WIDENED:
        if serial:
            op.execute(f"ALTER SEQUENCE {_sequence(table, serial)} AS integer")
        for column in columns:
            op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger())
    for table, column in DEFAULTED:
        op.alter_column(table, column, server_default=sa.func.now(), existing_type=sa.DateTime())


def _sequence(table: str, column: str) -> str:
    name = op.get_bind().scalar(
        sa.text("SELECT pg_get_serial_sequence(:table, :column)"), {"table": table, "column": column}
    )
    if not name:
        raise RuntimeError(f"{table}.{column} has no sequence")
    return name
