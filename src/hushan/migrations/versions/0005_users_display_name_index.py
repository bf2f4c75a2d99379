"""Contact lists read display names in one index descent per contact.

A contact list of 500 read each contact's name by descending the users' id index and then the
table: 1,000 random reads. On a 10,000,000-edge graph those second reads were most of what made
a long list slower than on a small one (bench/scale.py). PostgreSQL gets a covering index
(`id`, `display_name`), which its planner picks once statistics exist (autovacuum keeps them).
SQLite's planner picks a covering index only with statistics, which a database that grew
without `ANALYZE` lacks, so there `users` becomes a WITHOUT ROWID table: the primary key holds
the row, and every lookup by id is one descent whatever the statistics.

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


def _users_with_rowid(with_rowid: bool) -> None:
    kwargs = {"sqlite_with_rowid": with_rowid}
    with op.batch_alter_table("users", recreate="always", table_kwargs=kwargs):
        pass


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _users_with_rowid(False)
    else:
        op.create_index("ix_users_display_name", "users", ["id", "display_name"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _users_with_rowid(True)
    else:
        op.drop_index("ix_users_display_name", table_name="users")
