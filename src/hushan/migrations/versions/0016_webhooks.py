"""Events out: the transactional outbox, webhook endpoints, their secrets and deliveries, and
the registry of linked platforms with the users who linked them, and mini-programs with their
relationship-scoped grants.

`outbox` gets one row per audit entry, in the entry's own transaction and under the same
numbering (its key is the audit `seq`), so a relay that reads it in order never skips a row
committed late. `webhook_deliveries` is one event for one endpoint: its attempts, its next
due time and the lease a worker holds while it sends it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("actor", _ID, nullable=False),
        sa.Column("user_a", _ID, nullable=False),
        sa.Column("user_b", _ID, nullable=False),
        sa.Column("relation", sa.String(16), nullable=False),
        sa.Column("history_state", sa.String(16), nullable=True),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("event_types", sa.Text, nullable=False),  # space-separated
        sa.Column("created_at", sa.BigInteger, nullable=False),
        # The audit seq the endpoint starts after: it gets no event from before it existed.
        sa.Column("after_seq", sa.BigInteger, nullable=False),
        sa.Column("failure_run", sa.Integer, nullable=False, server_default="0"),
        sa.Column("disabled_at", sa.BigInteger, nullable=True),
        sa.Column("disabled_reason", sa.String(200), nullable=True),
        # Set for a linked platform's endpoint: it gets only what its linking users may see.
        sa.Column("platform_id", sa.String(32), nullable=True),
    )
    op.create_table(
        "webhook_secrets",
        sa.Column("secret", sa.String(100), primary_key=True),
        sa.Column("endpoint_id", sa.String(32), nullable=False, index=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        # Set when a rotation replaces it: it still signs until then (the overlap).
        sa.Column("expires_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "webhook_relay",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("relayed_seq", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO webhook_relay (id, relayed_seq) VALUES (1, 0)")
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("endpoint_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("pair_key", sa.String(32), nullable=False),  # a hash: no plain id
        sa.Column("state", sa.String(16), nullable=False),  # pending, delivered, failed
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_at", sa.BigInteger, nullable=False),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("last_attempt_at", sa.BigInteger, nullable=True),
        sa.Column("lease_owner", sa.String(40), nullable=True),
        sa.Column("lease_until", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("done_at", sa.BigInteger, nullable=True),
        # A 2xx (but 202) acknowledges at once; after a 202, the platform's own acknowledge.
        sa.Column("acknowledged_at", sa.BigInteger, nullable=True),
    )
    op.create_index(
        "ux_webhook_deliveries_event", "webhook_deliveries", ["endpoint_id", "seq"], unique=True
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["state", "next_at"])
    op.create_table(
        "platforms",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("endpoint_id", sa.String(32), nullable=False),
        sa.Column("asset_policy", sa.String(16), nullable=False),
        sa.Column("permission_policy", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "platform_links",
        sa.Column("user_id", _ID, primary_key=True),
        sa.Column("platform_id", sa.String(32), primary_key=True),
        sa.Column("linked_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_platform_links_platform", "platform_links", ["platform_id"])
    op.create_table(
        "mini_programs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("secret", sa.String(64), nullable=False),  # hex: the key of its ids
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "mini_program_grants",
        sa.Column("pair_id", sa.String(32), primary_key=True),
        sa.Column("app_id", sa.String(32), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("friend_id", _ID, nullable=False),
        sa.Column("granted_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_mini_program_grants_pair", "mini_program_grants", ["user_id", "friend_id"])
    # A pair's epoch: moved on by a mutual delete or a block-then-delete (new pair ids).
    op.create_table(
        "pair_epochs",
        sa.Column("pair_key", sa.String(32), primary_key=True),
        sa.Column("epoch", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_webhook_deliveries_pair", "webhook_deliveries", ["endpoint_id", "pair_key", "seq"]
    )


def downgrade() -> None:
    for table in (
        "pair_epochs",
        "mini_program_grants",
        "mini_programs",
        "platform_links",
        "platforms",
        "webhook_deliveries",
        "webhook_relay",
        "webhook_secrets",
        "webhook_endpoints",
        "outbox",
    ):
        op.drop_table(table)
