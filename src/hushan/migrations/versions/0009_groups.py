"""Groups, their members and pending invitations; each user's `hide_shared_groups` setting.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.String(64)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("hide_shared_groups", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner_id", _ID, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer, primary_key=True),
        sa.Column("user_id", _ID, primary_key=True),
        sa.Column("joined_at", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_group_members_user", "group_members", ["user_id", "group_id"])
    op.create_table(
        "group_invitations",
        sa.Column("group_id", sa.Integer, primary_key=True),
        sa.Column("invitee_id", _ID, primary_key=True),
        sa.Column("inviter_id", _ID, nullable=False),
        sa.Column("swallowed", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_group_invitations_invitee", "group_invitations", ["invitee_id"])


def downgrade() -> None:
    op.drop_index("ix_group_invitations_invitee", table_name="group_invitations")
    op.drop_table("group_invitations")
    op.drop_index("ix_group_members_user", table_name="group_members")
    op.drop_table("group_members")
    op.drop_table("groups")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("hide_shared_groups")
