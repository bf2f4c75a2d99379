"""Keep each user's contact count, so the friend limit is checked without counting the list.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("contact_count", sa.Integer, nullable=False, server_default="0"))
    op.execute(
        "UPDATE users SET contact_count ="
        " (SELECT count(*) FROM edges WHERE edges.owner_id = users.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("contact_count")
