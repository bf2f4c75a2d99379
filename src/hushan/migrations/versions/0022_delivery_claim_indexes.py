"""Webhook deliveries indexed for the worker's claim: the due ones in the order it takes them,
and a pair's pending ones alone.

A claim takes the oldest due deliveries (`next_at`, then `seq`) that are the oldest pending of
their pair. With `seq` in the due index, the claim reads due deliveries in that order and stops
once it has its batch; without it, every due delivery was read and sorted at each claim, and a
backlog made each claim slower than the last. The pair index holds pending deliveries only, so
"is an earlier one of this pair still pending" is one look-up, however many of the pair's
deliveries were made before (delivered ones stay until the retention prunes them).

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["state", "next_at", "seq"])
    op.drop_index("ix_webhook_deliveries_pair", table_name="webhook_deliveries")
    op.create_index(
        "ix_webhook_deliveries_pair",
        "webhook_deliveries",
        ["endpoint_id", "pair_key", "seq"],
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_pair", table_name="webhook_deliveries")
    op.create_index(
        "ix_webhook_deliveries_pair", "webhook_deliveries", ["endpoint_id", "pair_key", "seq"]
    )
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["state", "next_at"])
