"""Organisations: their administrators (two roles), members (a work identity linked to a
personal account), the directory's hidden pairs, enterprise link approvals, and handovers.

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

_ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "orgs",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "org_admins",
        sa.Column("org_id", _ID, primary_key=True),
        sa.Column("user_id", _ID, primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("since", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_org_admins_user", "org_admins", ["user_id", "org_id"])
    op.create_table(
        "org_members",
        sa.Column("org_id", _ID, primary_key=True),
        sa.Column("user_id", _ID, primary_key=True),
        sa.Column("work_id", _ID, nullable=False),
        sa.Column("since", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("org_id", "work_id", name="uq_org_members_work_id"),
        sqlite_with_rowid=False,
    )
    # A user's organisations (a mutual delete looks for the ones the pair shares; erasure).
    op.create_index("ix_org_members_user", "org_members", ["user_id", "org_id"])
    op.create_table(  # pairs of members hidden from each other's directory view
        "org_hidden",
        sa.Column("org_id", _ID, primary_key=True),
        sa.Column("user_lo", _ID, primary_key=True),
        sa.Column("user_hi", _ID, primary_key=True),
        sa.Column("since", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "org_approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("org_id", _ID, nullable=False),
        sa.Column("user_lo", _ID, nullable=False),
        sa.Column("user_hi", _ID, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.BigInteger, nullable=False),
        sa.Column("due_at", sa.BigInteger, nullable=False),
        sa.Column("decided_at", sa.BigInteger, nullable=True),
        sa.Column("decided_by", _ID, nullable=True),
    )
    op.create_index("ix_org_approvals_org", "org_approvals", ["org_id", "id"])
    op.create_index("ix_org_approvals_pair", "org_approvals", ["user_lo", "user_hi", "org_id"])
    op.create_index("ix_org_approvals_due", "org_approvals", ["state", "due_at"])
    op.create_index("ix_org_approvals_hi", "org_approvals", ["user_hi"])  # an erasure
    op.create_table(
        "handovers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("org_id", _ID, nullable=False),
        sa.Column("member", _ID, nullable=False),
        sa.Column("started_by", _ID, nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("ends_at", sa.BigInteger, nullable=False),
        sa.Column("ended_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_handovers_member", "handovers", ["org_id", "member", "id"])
    op.create_index("ix_handovers_due", "handovers", ["ended_at", "ends_at"])
    op.create_table(
        "handover_items",
        sa.Column("handover_id", sa.Integer, primary_key=True),
        sa.Column("customer", _ID, primary_key=True),
        sa.Column("successor", _ID, nullable=False),
        sa.Column("open_conversation", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_at", sa.BigInteger, nullable=True),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_handover_items_customer", "handover_items", ["customer", "handover_id"])


def downgrade() -> None:
    op.drop_index("ix_handover_items_customer", table_name="handover_items")
    op.drop_table("handover_items")
    op.drop_index("ix_handovers_due", table_name="handovers")
    op.drop_index("ix_handovers_member", table_name="handovers")
    op.drop_table("handovers")
    for index in (
        "ix_org_approvals_hi",
        "ix_org_approvals_due",
        "ix_org_approvals_pair",
        "ix_org_approvals_org",
    ):
        op.drop_index(index, table_name="org_approvals")
    op.drop_table("org_approvals")
    op.drop_table("org_hidden")
    op.drop_index("ix_org_members_user", table_name="org_members")
    op.drop_table("org_members")
    op.drop_index("ix_org_admins_user", table_name="org_admins")
    op.drop_table("org_admins")
    op.drop_table("orgs")
