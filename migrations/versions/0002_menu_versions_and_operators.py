"""Console: menu drafts, versions and publications; operators, API tokens and their audit trail.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "menu_drafts",
        sa.Column("tree_id", sa.String(40), primary_key=True),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("journeys", sa.JSON, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.String(254), nullable=False),
        sa.Column("updated_at", sa.DateTime, server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "menu_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tree_id", sa.String(40), nullable=False, index=True),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("author", sa.String(254), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("tree_id", "version", name="uq_menu_versions_tree_version"),
        sa.UniqueConstraint("tree_id", "number", name="uq_menu_versions_tree_number"),
    )
    op.create_table(
        "menu_publications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tree_id", sa.String(40), nullable=False, index=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("menu_versions.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("author", sa.String(254), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("published_at", sa.DateTime, server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "operators",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.now(), nullable=False),
        sa.Column("last_login_at", sa.DateTime),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id"), nullable=False, index=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.now(), nullable=False),
        sa.Column("last_used_at", sa.DateTime),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_table(
        "operator_actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id")),
        sa.Column("operator_email", sa.String(254), nullable=False),
        sa.Column("action", sa.String(32), nullable=False, index=True),
        sa.Column("tree_id", sa.String(40)),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("at", sa.DateTime, server_default=sa.func.now(), nullable=False, index=True),
    )


def downgrade() -> None:
    for table in (
        "operator_actions",
        "api_tokens",
        "operators",
        "menu_publications",
        "menu_versions",
        "menu_drafts",
    ):
        op.drop_table(table)
