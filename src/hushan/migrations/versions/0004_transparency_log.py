"""The transparency log: leaves over the audit log, stored Merkle nodes, signed checkpoints,
per-pair salts for pseudonymous user refs, and the certificates issued (for linking).

A leaf row carries its own hash (the tree's level 0); `log_nodes` holds the levels above, so
each integrated entry costs one leaf row and, on average, one node row.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_pairs",
        sa.Column("user_lo", sa.String(64), primary_key=True),
        sa.Column("user_hi", sa.String(64), primary_key=True),
        sa.Column("salt", sa.LargeBinary, nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "log_leaves",
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("user_lo", sa.String(64), nullable=False),
        sa.Column("user_hi", sa.String(64), nullable=False),
        sa.Column("pair_n", sa.Integer, nullable=False),
        sa.Column("entry", sa.Text, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
    )
    # Unique: a pair's n-th entry exists once, the rule every verifier relies on.
    op.create_index(
        "ix_log_leaves_pair", "log_leaves", ["user_lo", "user_hi", "pair_n"], unique=True
    )
    op.create_table(
        "log_nodes",
        sa.Column("level", sa.Integer, primary_key=True),
        sa.Column("idx", sa.BigInteger, primary_key=True),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("published_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "log_certificates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_lo", sa.String(64), nullable=False),
        sa.Column("user_hi", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("issued_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_log_certificates_pair", "log_certificates", ["user_lo", "user_hi", "id"])


def downgrade() -> None:
    op.drop_table("log_certificates")
    op.drop_table("log_checkpoints")
    op.drop_table("log_nodes")
    op.drop_index("ix_log_leaves_pair", table_name="log_leaves")
    op.drop_table("log_leaves")
    op.drop_table("log_pairs")
