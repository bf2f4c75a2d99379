"""A covering index for the contact list's display names.

A contact list of 500 read each contact's display name by descending the users' id index and
then the table: 1,000 random reads. With the name in the index it is one descent each, which
on a 10,000,000-edge graph is what keeps a long list close to its cost on a small one
(bench/scale.py). The name is rarely written, so the index costs writes almost nothing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_users_display_name", "users", ["id", "display_name"])


def downgrade() -> None:
    op.drop_index("ix_users_display_name", table_name="users")
