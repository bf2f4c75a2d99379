"""Graded deletion notices: each user's notice grade, the removals still in force with the
grade they were made under, and each user's notices inbox.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.String(64)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("notice_grade", sa.String(16), nullable=False, server_default="silent")
        )
    op.create_table(
        "removals",
        sa.Column("remover_id", _ID, primary_key=True),
        sa.Column("removed_id", _ID, primary_key=True),
        sa.Column("removed_at", sa.BigInteger, nullable=False),
        sa.Column("grade", sa.String(16), nullable=False),
        sa.Column("disclosed_at", sa.BigInteger, nullable=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("other_id", _ID, nullable=False),
        sa.Column("happened_at", sa.BigInteger, nullable=False),
        sa.Column("delivered_at", sa.BigInteger, nullable=False),
        sa.Column("read_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_notices_user", "notices", ["user_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_notices_user", table_name="notices")
    op.drop_table("notices")
    op.drop_table("removals")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("notice_grade")
