"""The device sync feed: each user's changes, numbered per user, and their devices' cursors.

On SQLite the table keeps its rowid, which only grows (a user's newest change is never
deleted): other processes watch it for new changes. PostgreSQL tells them with NOTIFY instead.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("user_id", _ID, primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("other_id", _ID, nullable=True),
        sa.Column("conversation_id", sa.Integer, nullable=True),
        sa.Column("message_id", sa.BigInteger, nullable=True),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_changes_created", "changes", ["created_at"])
    op.create_table(
        "devices",
        sa.Column("user_id", _ID, primary_key=True),
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("cursor", sa.BigInteger, nullable=False),
        sa.Column("registered_at", sa.BigInteger, nullable=False),
        sa.Column("acknowledged_at", sa.BigInteger, nullable=True),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("devices")
    op.drop_index("ix_changes_created", table_name="changes")
    op.drop_table("changes")
