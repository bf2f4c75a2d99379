"""The operator's record of webhook trouble (`webhook_alerts`), linked platforms' open cases
of assets to unbind by hand (`platform_cases`), and room for a mini-program's key sealed.

One row each time the worker disables an endpoint after its run of failures, written in the
same transaction as the disable, with the endpoint's last status or error. It stays open until
the endpoint is enabled again (which closes it) and is kept afterwards, so the admin API and CLI
show what happened and when. It is not an audit entry of Rule 7: that log is each pair's record,
published to the transparency log and sent out as events, and an endpoint is no pair.

`platform_cases` holds one case per (user, platform, event) where a platform whose assets are
unbound by hand (`manual_unbind`) was sent a mutual delete, purge or erasure of a pair the user
linked it for. The relay opens it with the delivery; a 2xx does not close it: only the
platform's "done" does. `pair_key` is the pair's hash (no plain id of the other side), so the
user's data residue report finds it, and an erasure rewrites it like the deliveries'.

`mini_programs.secret` (the key of an app's ids) is kept sealed under the deployment key, bound
to its app, like webhook secrets: the column widens to hold that form (`sealed:` and base64,
87 characters). A key stored plain (64 hex digits) by an earlier version is sealed at the next
start (`hushan.bootstrap`), since a migration has no deployment key.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("endpoint_id", sa.String(32), nullable=False, index=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("closed_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "platform_cases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False, index=True),
        sa.Column("platform_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("pair_key", sa.String(32), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("opened_at", sa.BigInteger, nullable=False),
        sa.Column("done_at", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("platform_id", "seq", "user_id", name="ux_platform_cases_event"),
    )
    with op.batch_alter_table("mini_programs") as table:
        table.alter_column("secret", type_=sa.String(120), existing_nullable=False)


def downgrade() -> None:
    # A sealed key does not fit back: it must be opened first, which needs the deployment key.
    with op.batch_alter_table("mini_programs") as table:
        table.alter_column("secret", type_=sa.String(64), existing_nullable=False)
    op.drop_table("platform_cases")
    op.drop_table("webhook_alerts")
