"""Consensual mutual delete: proposals, at most one pending each way (the service allows a
second only beside one that was swallowed); notices get a detail (the proposal's message, or
what a decision did).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.String(64)
_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("proposer_id", _ID, nullable=False),
        sa.Column("other_id", _ID, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("remove_anyway", sa.Boolean, nullable=False),
        sa.Column("swallowed", sa.Boolean, nullable=False),
        # The proposer removed the other themselves since: "remove anyway" has nothing to do.
        sa.Column("spent", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("decided_at", sa.BigInteger, nullable=True),
    )
    op.create_index(
        "uq_proposals_pending",
        "proposals",
        ["proposer_id", "other_id"],
        unique=True,
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )
    op.create_index("ix_proposals_due", "proposals", ["status", "expires_at"])
    op.create_index("ix_proposals_other", "proposals", ["other_id", "status"])
    op.create_index("ix_proposals_proposer", "proposals", ["proposer_id", "status"])
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("detail", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("detail")
    for index in ("ix_proposals_proposer", "ix_proposals_other", "ix_proposals_due"):
        op.drop_index(index, table_name="proposals")
    op.drop_index("uq_proposals_pending", table_name="proposals")
    op.drop_table("proposals")
