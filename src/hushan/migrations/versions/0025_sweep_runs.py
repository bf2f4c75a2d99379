"""The sweep's last runs, for the operator console: when each began and ended, and its report
(what it did, as JSON). The sweep keeps the newest `hushan.service.views.SWEEP_RUNS_KEPT`.

On a Citus cluster (0023) a Citus local table on the coordinator.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hushan.migrations import distributed

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweep_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
    )
    if distributed():
        op.execute("SELECT citus_add_local_table_to_metadata('sweep_runs')")


def downgrade() -> None:
    op.drop_table("sweep_runs")
