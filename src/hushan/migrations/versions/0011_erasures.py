"""Account erasures in progress: the account is gone from `users` at once, and this row says
its remaining data is still being erased (so the sweep finishes a crashed erasure, and the id
is not given to a new account meanwhile).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        # Who is erasing it, until when: a second process (a sweep) takes over only after.
        sa.Column("claim", sa.String(32), nullable=False),
        sa.Column("claimed_until", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("erasures")
