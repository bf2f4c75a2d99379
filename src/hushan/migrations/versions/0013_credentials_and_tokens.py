"""Service credentials (named, scoped, hashed secrets, rotated with an overlap) and the user
token lifecycle (an id to list and revoke by, expiry, last use, who minted it).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30

Tokens made before this revision never expired. They now expire `LEGACY_GRACE` after the
upgrade: no token lives for ever, and nobody is logged out by the upgrade itself.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

LEGACY_GRACE_MICROS = 30 * 86400 * 1_000_000  # the default HUSHAN_TOKEN_TTL_DAYS


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),  # space-separated
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "credential_secrets",
        sa.Column("secret_hash", sa.String(64), primary_key=True),
        sa.Column("credential_id", sa.String(32), nullable=False, index=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        # Set when a rotation replaces it: it works until then (the overlap).
        sa.Column("expires_at", sa.BigInteger, nullable=True),
    )
    op.add_column("tokens", sa.Column("id", sa.String(16), nullable=True))
    op.add_column("tokens", sa.Column("expires_at", sa.BigInteger, nullable=True))
    op.add_column("tokens", sa.Column("last_used_at", sa.BigInteger, nullable=True))
    op.add_column("tokens", sa.Column("minted_by", sa.String(32), nullable=True))
    now = int(time.time() * 1_000_000)
    op.execute(
        sa.text("UPDATE tokens SET id = substr(token_hash, 1, 16), expires_at = :until").bindparams(
            until=now + LEGACY_GRACE_MICROS
        )
    )
    op.create_index("ix_tokens_id", "tokens", ["id"], unique=True)
    # The service credential a write came through, if one did (outside the log's leaves).
    op.add_column("audit_log", sa.Column("credential_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("credential_id")
    op.drop_index("ix_tokens_id", "tokens")
    with op.batch_alter_table("tokens") as batch:
        for column in ("minted_by", "last_used_at", "expires_at", "id"):
            batch.drop_column(column)
    op.drop_table("credential_secrets")
    op.drop_table("credentials")
