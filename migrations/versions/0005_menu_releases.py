"""Console: staged releases of menu versions (a share of new sessions, compared, promoted or rolled back).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "menu_releases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tree_id", sa.String(40), nullable=False, index=True),
        sa.Column("token", sa.String(32), nullable=False, unique=True),
        sa.Column("candidate_id", sa.Integer, sa.ForeignKey("menu_versions.id"), nullable=False),
        sa.Column("baseline_id", sa.Integer, sa.ForeignKey("menu_versions.id"), nullable=False),
        sa.Column("share", sa.Integer, nullable=False),
        sa.Column("margin", sa.Float, nullable=False),
        sa.Column("min_sessions", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("started_by", sa.String(254), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("ended_by", sa.String(254)),
        sa.Column("ended_at", sa.DateTime),
        sa.Column("decision", sa.JSON),
    )


def downgrade() -> None:
    op.drop_table("menu_releases")
