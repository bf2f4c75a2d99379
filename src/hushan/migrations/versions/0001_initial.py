"""Initial schema: users, tokens, edges, blocks, requests, conversations, keys, messages, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Times are integer microseconds since the Unix epoch (UTC). Edges and blocks are keyed by the
user who owns them, so every query a user makes stays on that user's rows (the future
distribution key). Wrapped data keys live in their own table so that destroying one is a
single-row delete.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("verification_required", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", _ID, nullable=False, index=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "edges",
        sa.Column("owner_id", _ID, primary_key=True),
        sa.Column("contact_id", _ID, primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "blocks",
        sa.Column("blocker_id", _ID, primary_key=True),
        sa.Column("blocked_id", _ID, primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "friend_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("from_id", _ID, nullable=False),
        sa.Column("to_id", _ID, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("swallowed", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("decided_at", sa.BigInteger, nullable=True),
    )
    op.create_index(
        "uq_friend_requests_pending",
        "friend_requests",
        ["from_id", "to_id"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_friend_requests_to", "friend_requests", ["to_id", "status"])
    op.create_index("ix_friend_requests_due", "friend_requests", ["status", "expires_at"])
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_lo", _ID, nullable=False),
        sa.Column("user_hi", _ID, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("purge_at", sa.BigInteger, nullable=True),
        sa.Column("block_deleted", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("key_destroyed_at", sa.BigInteger, nullable=True),
        sa.Column("rows_purged_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_conversations_pair", "conversations", ["user_lo", "user_hi", "id"])
    op.create_index(
        "uq_conversations_live",
        "conversations",
        ["user_lo", "user_hi"],
        unique=True,
        sqlite_where=sa.text("state != 'purged'"),
        postgresql_where=sa.text("state != 'purged'"),
    )
    op.create_index("ix_conversations_due", "conversations", ["state", "purge_at"])
    op.create_table(
        "conversation_keys",
        sa.Column("conversation_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.Integer, nullable=False),
        sa.Column("sender_id", _ID, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_messages_conversation", "messages", ["conversation_id", "id"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("actor", _ID, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("user_a", _ID, nullable=False),
        sa.Column("user_b", _ID, nullable=False),
        sa.Column("relation", sa.String(16), nullable=False),
        sa.Column("history_state", sa.String(16), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_pair", "audit_log", ["user_a", "user_b"])


def downgrade() -> None:
    for table in (
        "audit_log",
        "messages",
        "conversation_keys",
        "conversations",
        "friend_requests",
        "blocks",
        "edges",
        "tokens",
        "users",
    ):
        op.drop_table(table)
