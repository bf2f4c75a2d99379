"""The operator's record of webhook trouble: `webhook_alerts`.

One row each time the worker disables an endpoint after its run of failures, written in the
same transaction as the disable, with the endpoint's last status or error. It stays open until
the endpoint is enabled again (which closes it) and is kept afterwards, so the admin API and CLI
show what happened and when. It is not an audit entry of Rule 7: that log is each pair's record,
published to the transparency log and sent out as events, and an endpoint is no pair.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("endpoint_id", sa.String(32), nullable=False, index=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("closed_at", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("webhook_alerts")
