"""Posts with an audience, each contact's layer (`full`, or `chat_only`: can message, cannot
see posts) and the tags an owner gives contacts.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.String(64)


def upgrade() -> None:
    with op.batch_alter_table("edges") as batch:
        batch.add_column(sa.Column("layer", sa.String(16), nullable=False, server_default="full"))
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("author_id", _ID, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("audience", sa.String(8), nullable=False),
        sa.Column("tag", sa.String(32), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_posts_author", "posts", ["author_id", "id"])
    op.create_table(
        "contact_tags",
        sa.Column("owner_id", _ID, primary_key=True),
        sa.Column("contact_id", _ID, primary_key=True),
        sa.Column("tag", sa.String(32), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "post_hidden_from",
        sa.Column("post_id", sa.Integer, primary_key=True),
        sa.Column("user_id", _ID, primary_key=True),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("post_hidden_from")
    op.drop_table("contact_tags")
    op.drop_index("ix_posts_author", table_name="posts")
    op.drop_table("posts")
    with op.batch_alter_table("edges") as batch:
        batch.drop_column("layer")
