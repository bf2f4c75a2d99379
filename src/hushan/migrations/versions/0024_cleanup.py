"""Progressive cleanup (hushan.domain.cleanup): bulk removals and their undo.

`cleanup_batches` holds each bulk removal a user made: when, until when it can be undone,
and when it was. `cleanup_items` holds, per contact of the batch, what the removal did as the
user was told (`parting`, `told`), the layer the contact was on (the undo puts it back), and,
never shown to anyone, the history the removal buffered and the `purge_at` it set: where the
other side had removed the user without telling them, the removal was mutual in fact, and the
undo puts the history back as it was. `user_id` repeats the batch's owner, so that an erasure
finds every row naming either side of a pair.

On a Citus cluster (0023) both become Citus local tables on the coordinator, as every table
not distributed by user is there: a batch is read and written whole, by its id.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hushan.migrations import distributed

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "cleanup_batches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("undo_until", sa.BigInteger, nullable=False),
        sa.Column("undone_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_cleanup_batches_user", "cleanup_batches", ["user_id", "id"])
    op.create_table(
        "cleanup_items",
        sa.Column("batch_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("other_id", _ID, primary_key=True),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("removed", sa.Boolean, nullable=False),
        sa.Column("parting", sa.String(16), nullable=True),
        sa.Column("layer", sa.String(16), nullable=True),
        sa.Column("told", sa.String(16), nullable=True),
        sa.Column("buffered_conversation", sa.Integer, nullable=True),
        sa.Column("buffered_purge_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_cleanup_items_pair", "cleanup_items", ["user_id", "other_id"])
    op.create_index("ix_cleanup_items_other", "cleanup_items", ["other_id"])
    if distributed():
        for table in ("cleanup_batches", "cleanup_items"):
            op.execute(f"SELECT citus_add_local_table_to_metadata('{table}')")


def downgrade() -> None:
    op.drop_table("cleanup_items")
    op.drop_table("cleanup_batches")
