"""USSD session-end events, one row per session.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ussd_session_ends",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("session_id", sa.String(64), nullable=False, unique=True),
        sa.Column("aggregator", sa.String(32), nullable=False),
        sa.Column("service_code", sa.String(32), nullable=False),
        sa.Column("network_code", sa.String(10), nullable=False),
        sa.Column("phone_hash", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_message", sa.String(200)),
        sa.Column("cost", sa.String(32)),
        sa.Column("duration_ms", sa.Integer),
        sa.Column("hops_count", sa.Integer),
        sa.Column("ended_at", sa.DateTime),
        sa.Column("received_at", sa.DateTime, server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ussd_session_ends")
