"""Console hardening: operators' session generation and password change time; API tokens' expiry,
scope and parent (a token minted with another token).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

Tokens made before this revision get an expiry 90 days from the upgrade and their operator's role
as scope; console sessions from before it end (their cookie has no generation), once.
"""

from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("operators") as batch:
        batch.add_column(sa.Column("session_generation", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("password_changed_at", sa.DateTime))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime))
        batch.add_column(sa.Column("scope", sa.String(16)))
        batch.add_column(
            sa.Column("parent_id", sa.Integer, sa.ForeignKey("api_tokens.id", name="fk_api_tokens_parent"))
        )
        batch.create_index("ix_api_tokens_parent_id", ["parent_id"])
    expires = datetime.utcnow() + timedelta(days=90)  # noqa: DTZ003 - the table keeps naive UTC
    op.execute(
        sa.text(
            "UPDATE api_tokens SET expires_at = :expires, "
            "scope = (SELECT role FROM operators WHERE operators.id = api_tokens.operator_id) "
            "WHERE expires_at IS NULL"
        ).bindparams(expires=expires)
    )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_index("ix_api_tokens_parent_id")
        batch.drop_constraint("fk_api_tokens_parent", type_="foreignkey")
        batch.drop_column("parent_id")
        batch.drop_column("scope")
        batch.drop_column("expires_at")
    with op.batch_alter_table("operators") as batch:
        batch.drop_column("password_changed_at")
        batch.drop_column("session_generation")
