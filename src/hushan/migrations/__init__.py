"""Alembic migrations: the only way the schema is created or changed."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def distributed() -> bool:
    """Whether migration 0023 distributed the schema (a Citus cluster's coordinator): a table
    made after it becomes a Citus local table there, as every table not distributed by user."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    if not bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).first():
        return False
    found = bind.execute(
        sa.text("SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'users'::regclass")
    )
    return found.first() is not None
