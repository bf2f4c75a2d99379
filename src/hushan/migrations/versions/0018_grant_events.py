"""Mini-programs get webhooks: `grant.revoked` through the outbox.

`outbox_grants` holds the grants one change revoked, keyed by the `seq` of that change's audit
entry (written in the same transaction), named only by the ids each app sees. A mini-program's
webhook endpoint (`webhook_endpoints.mini_program_id`) gets one `grant.revoked` delivery per
change that revoked any of its grants.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_grants",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("pair_id", sa.String(32), primary_key=True),
        sa.Column("app_id", sa.String(32), nullable=False),
        sa.Column("open_id", sa.String(32), nullable=False),
    )
    with op.batch_alter_table("webhook_endpoints") as table:
        table.add_column(sa.Column("mini_program_id", sa.String(32), nullable=True))
    with op.batch_alter_table("mini_programs") as table:
        table.add_column(sa.Column("endpoint_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mini_programs") as table:
        table.drop_column("endpoint_id")
    with op.batch_alter_table("webhook_endpoints") as table:
        table.drop_column("mini_program_id")
    op.drop_table("outbox_grants")
