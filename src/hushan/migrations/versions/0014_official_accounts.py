"""Official accounts, their fans and their administrators.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "official_accounts",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    for table in ("account_fans", "account_admins"):
        op.create_table(
            table,
            sa.Column("account_id", _ID, primary_key=True),
            sa.Column("user_id", _ID, primary_key=True),
            sa.Column("since", sa.BigInteger, nullable=False),
            sqlite_with_rowid=False,
        )
        # A user's own bindings (what they follow; erasure), beside the account's by its key.
        op.create_index(f"ix_{table}_user", table, ["user_id", "account_id"])


def downgrade() -> None:
    for table in ("account_admins", "account_fans"):
        op.drop_index(f"ix_{table}_user", table_name=table)
        op.drop_table(table)
    op.drop_table("official_accounts")
