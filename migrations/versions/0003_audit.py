"""Audit trail: hash-chained records and purge checkpoints.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_records",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("stream_id", sa.String(32), nullable=False, unique=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("session_id", sa.String(64)),
        sa.Column("phone_hash", sa.String(64)),
        sa.Column("service_code", sa.String(32)),
        sa.Column("tree_id", sa.String(64)),
        sa.Column("tree_version", sa.String(32)),
        sa.Column("node", sa.String(64)),
        sa.Column("language", sa.String(8)),
        sa.Column("outcome", sa.String(24)),
        sa.Column("journey", sa.String(24)),
        sa.Column("final", sa.Boolean),
        sa.Column("latency_ms", sa.Float),
        sa.Column("details", sa.Text),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_records_at", "audit_records", ["at"])
    op.create_index("ix_audit_records_kind_at", "audit_records", ["kind", "at"])
    op.create_index("ix_audit_records_session_seq", "audit_records", ["session_id", "seq"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("through_seq", sa.Integer, nullable=False),
        sa.Column("through_hash", sa.String(64), nullable=False),
        sa.Column("purged", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_records")
