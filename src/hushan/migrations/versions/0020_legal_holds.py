"""Legal holds (hushan.domain.holds).

`legal_holds` holds each hold: on a user (`user_hi` NULL) or on a pair (`user_lo < user_hi`),
its reason, case reference and expiry, and how it ended. `legal_hold_pins` ties a hold to each
conversation it kept from its purge, so that it still covers that history after an erasure
replaced the user's id in it. `legal_hold_pairs` lists the pairs whose log says a hold covers
them now (their last hold entry was `legal_hold_placed` or `purge_deferred_legal_hold`), so a
release logs `legal_hold_released` exactly where the log said held. `conversations` gets
`hold_deferred_at`: when a hold last kept it from a due purge (the sweep looks at it again only
once no live hold covers it). A history a hold keeps is no longer the pair's live one: the two
may become friends again and start a new history beside it, so the one-live-history-per-pair
index leaves it out; and the sweep finds the due histories no hold deferred on an index of their
own, without reading past the deferred ones again and again.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# An id, or an erased user's reference (`erased:` and 32 hex digits) in its place.
_ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_lo", _ID, nullable=False),
        sa.Column("user_hi", _ID, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("case_ref", sa.String(64), nullable=False),
        sa.Column("placed_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("ended_at", sa.BigInteger, nullable=True),
        sa.Column("ended_how", sa.String(16), nullable=True),
    )
    op.create_index("ix_legal_holds_placed", "legal_holds", ["placed_at", "id"])
    op.create_index("ix_legal_holds_lo", "legal_holds", ["user_lo", "ended_at"])
    op.create_index("ix_legal_holds_hi", "legal_holds", ["user_hi", "ended_at"])
    op.create_table(
        "legal_hold_pins",
        sa.Column("conversation_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("hold_id", sa.String(32), primary_key=True),
    )
    op.create_index("ix_legal_hold_pins_hold", "legal_hold_pins", ["hold_id"])
    op.create_table(
        "legal_hold_pairs",
        sa.Column("user_lo", _ID, primary_key=True),
        sa.Column("user_hi", _ID, primary_key=True),
    )
    op.create_index("ix_legal_hold_pairs_hi", "legal_hold_pairs", ["user_hi"])
    with op.batch_alter_table("conversations") as table:
        table.add_column(sa.Column("hold_deferred_at", sa.BigInteger, nullable=True))
    _live_index("state != 'purged' AND hold_deferred_at IS NULL")
    # The sweep's due histories, those a hold deferred apart (hushan.store.conversations_sql).
    op.create_index(
        "ix_conversations_due_deferred",
        "conversations",
        ["state", "hold_deferred_at", "purge_at"],
    )


def _live_index(where: str) -> None:
    op.drop_index("uq_conversations_live", table_name="conversations")
    op.create_index(
        "uq_conversations_live",
        "conversations",
        ["user_lo", "user_hi"],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_due_deferred", table_name="conversations")
    _live_index("state != 'purged'")
    with op.batch_alter_table("conversations") as table:
        table.drop_column("hold_deferred_at")
    op.drop_table("legal_hold_pairs")
    op.drop_table("legal_hold_pins")
    op.drop_table("legal_holds")
