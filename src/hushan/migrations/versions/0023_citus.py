"""A conversation's data key and messages carry the pair's lower user id (`user_lo`), and on a
Citus cluster (`HUSHAN_CITUS=1`) the per-user tables are distributed by user.

Every backend gets the new column, filled from the conversation: it is what lets a key and a
conversation's messages live on the shard of the conversation itself on a cluster.

On Citus only (README, "Scaling"):
- users, edges, blocks, friend requests (by recipient), notices, devices and the sync feed are
  distributed by user; conversations, their keys and messages by the pair's lower user id. All
  are co-located: a user's rows on every table share one shard.
- A distributed table's primary key and unique indexes must hold its distribution column: the
  serial ids of requests, notices, conversations and messages are keyed with it there.
  A sender's client message id is unique within each pair on the cluster (across the sender's
  pairs, the send holds the sender's lock while it looks the id up, as on one server).
- Every other table becomes a Citus local table on the coordinator (the audit log, the
  transparency log's tree and checkpoints, and the small global tables). Being in Citus'
  metadata, a write to one of them makes the transaction commit with two-phase commit across
  the workers it wrote to, so the audit entry and the rows it records commit together.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

# table: (distribution column, the primary key it needs there, or None when it holds it now)
DISTRIBUTED: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "users": ("id", None),
    "edges": ("owner_id", None),
    "blocks": ("blocker_id", None),
    "friend_requests": ("to_id", ("to_id", "id")),
    "notices": ("user_id", ("user_id", "id")),
    "devices": ("user_id", None),
    "changes": ("user_id", None),
    "conversations": ("user_lo", ("user_lo", "id")),
    "conversation_keys": ("user_lo", ("user_lo", "conversation_id")),
    "messages": ("user_lo", ("user_lo", "id")),
}


def citus_wanted() -> bool:
    """`hushan.store.migrate.upgrade` says; else (the alembic command) HUSHAN_CITUS."""
    config = op.get_context().config
    given = config.attributes.get("citus") if config is not None else None
    if isinstance(given, bool):
        return given
    return os.environ.get("HUSHAN_CITUS", "") == "1"


def upgrade() -> None:
    for table in ("conversation_keys", "messages"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("user_lo", sa.String(64), nullable=True))
        op.execute(
            f"UPDATE {table} SET user_lo = (SELECT c.user_lo FROM conversations c"
            f" WHERE c.id = {table}.conversation_id)"
        )
        with op.batch_alter_table(table) as batch:
            batch.alter_column("user_lo", existing_type=sa.String(64), nullable=False)
    if citus_wanted():
        _distribute()


def _distribute() -> None:
    bind = op.get_bind()
    if (
        bind.dialect.name != "postgresql"
        or not bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).first()
    ):
        raise RuntimeError(
            "HUSHAN_CITUS=1 asks for a Citus cluster, but this database has no citus extension:"
            " point HUSHAN_DATABASE_URL at the coordinator's database, made with CREATE EXTENSION"
            " citus on every node."
        )
    for table, (_, primary_key) in DISTRIBUTED.items():
        if primary_key is not None:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey")
            op.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({', '.join(primary_key)})")
    op.drop_index("ux_messages_client_msg_id", table_name="messages")
    op.create_index(
        "ux_messages_client_msg_id",
        "messages",
        ["user_lo", "sender_id", "client_msg_id"],
        unique=True,
    )
    first = next(iter(DISTRIBUTED))
    for table, (column, _) in DISTRIBUTED.items():
        colocate = "none" if table == first else first
        op.execute(
            f"SELECT create_distributed_table('{table}', '{column}', colocate_with => '{colocate}')"
        )
    local = bind.execute(
        sa.text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema ="
            " current_schema() AND table_type = 'BASE TABLE' AND table_name != 'alembic_version'"
            " ORDER BY table_name"
        )
    ).scalars()
    for table in [t for t in local if t not in DISTRIBUTED]:
        op.execute(f"SELECT citus_add_local_table_to_metadata('{table}')")


def downgrade() -> None:
    # On Citus, undistributing is the operator's (undistribute_table): not done here.
    op.drop_index("ux_messages_client_msg_id", table_name="messages")
    op.create_index(
        "ux_messages_client_msg_id", "messages", ["sender_id", "client_msg_id"], unique=True
    )
    for table in ("messages", "conversation_keys"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("user_lo")
