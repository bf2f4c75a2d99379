"""Idempotency keys and client message ids.

`idempotency_keys` holds, per caller and key, the fingerprint of the first request and the
reply it got, written in that request's own transaction (hushan.api.idempotency), until it
expires. `messages.client_msg_id` is the sender's own id for a message: unique per sender, so a
resent message is found rather than stored twice.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("caller", sa.String(160), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("headers", sa.Text, nullable=False),  # JSON: [[name, value], ...]
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_idempotency_keys_expires", "idempotency_keys", ["expires_at"])
    op.add_column("messages", sa.Column("client_msg_id", sa.String(64), nullable=True))
    # NULLs are distinct in a unique index on both backends: messages without one never clash.
    op.create_index(
        "ux_messages_client_msg_id", "messages", ["sender_id", "client_msg_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ux_messages_client_msg_id", "messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("client_msg_id")
    op.drop_index("ix_idempotency_keys_expires", "idempotency_keys")
    op.drop_table("idempotency_keys")
