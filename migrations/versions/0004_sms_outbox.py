"""SMS channel: outbox and its status history, opt-outs, inbound messages, delivery reports.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dedupe_key", sa.String(128), nullable=False, unique=True),
        sa.Column("phone", sa.String(20), nullable=False, index=True),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("language", sa.String(5)),
        sa.Column("body", sa.Text),
        sa.Column("segments", sa.Integer),
        sa.Column("encoding", sa.String(8)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("provider_message_id", sa.String(64), unique=True),
        sa.Column("cost", sa.String(32)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(200)),
        sa.Column("claim_token", sa.String(32)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("enqueued_at", sa.DateTime),
        sa.Column("sending_at", sa.DateTime),
        sa.Column("sent_at", sa.DateTime),
        sa.Column("final_at", sa.DateTime),
    )
    op.create_index("ix_sms_outbox_status_due", "sms_outbox", ["status", "next_attempt_at"])
    op.create_table(
        "sms_status_history",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "message_id",
            sa.Integer,
            sa.ForeignKey("sms_outbox.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(200)),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "sms_opt_outs",
        sa.Column("phone", sa.String(20), primary_key=True),
        sa.Column("since", sa.DateTime, nullable=False),
    )
    op.create_table(
        "sms_inbound",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("provider_id", sa.String(64), nullable=False, unique=True),
        sa.Column("phone", sa.String(20), nullable=False, index=True),
        sa.Column("command", sa.String(16), nullable=False),
        sa.Column("argument", sa.String(32)),
        sa.Column("short_code", sa.String(20)),
        sa.Column("link_id", sa.String(64)),
        sa.Column("network_code", sa.String(10)),
        sa.Column("sent_at", sa.String(32)),
        sa.Column("reply_id", sa.Integer, sa.ForeignKey("sms_outbox.id")),
        sa.Column("received_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "sms_delivery_reports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("provider_message_id", sa.String(64), nullable=False, index=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("failure_reason", sa.String(64)),
        sa.Column("phone", sa.String(20)),
        sa.Column("network_code", sa.String(10)),
        sa.Column("retry_count", sa.Integer),
        sa.Column("message_id", sa.Integer, sa.ForeignKey("sms_outbox.id")),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("applied_at", sa.DateTime, index=True),
    )


def downgrade() -> None:
    op.drop_table("sms_delivery_reports")
    op.drop_table("sms_inbound")
    op.drop_table("sms_opt_outs")
    op.drop_table("sms_status_history")
    op.drop_index("ix_sms_outbox_status_due", table_name="sms_outbox")
    op.drop_table("sms_outbox")
