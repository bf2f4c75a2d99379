"""Drop the audit log's pair index: no query reads it, and every audited change paid for it.

Keeping it cost about 15 us of each audited write here (bench/). A later reader of a pair's
entries brings the access path it needs, with its cost measured then.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_audit_pair", table_name="audit_log")


def downgrade() -> None:
    op.create_index("ix_audit_pair", "audit_log", ["user_a", "user_b"])
