"""The map of each pair's latest log entry: the sparse Merkle tree's nodes, and how far it goes.

`log_map_nodes` holds each node of the map by depth and key prefix (`hushan.tlog.smt`): a
branch's hash, or a key's leaf with its key and value. `log_map_head` is one row: how many log
leaves the map covers and its root. A log from before this revision starts with an empty map;
the next integration fills it from the stored leaves before it takes new entries.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_map_nodes",
        sa.Column("depth", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("prefix", sa.LargeBinary, primary_key=True),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.Column("map_key", sa.LargeBinary, nullable=True),
        sa.Column("map_value", sa.LargeBinary, nullable=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "log_map_head",
        sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("log_map_head")
    op.drop_table("log_map_nodes")
