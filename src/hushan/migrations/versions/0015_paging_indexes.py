"""Indexes for the keyset pages of lists (hushan.api.paging): each page is one index range.

A page starts after the key of the last item sent and reads `limit + 1` rows in the list's
order. Where an index already holds the user and that order (contacts, blocks, messages,
notices, posts, the audit log, users), a page is a descent and a short scan. These lists had
none, and without one every page would read and sort all of the user's rows:
- the chat list by the other user: the conversations where the user is `user_hi` (those where
  they are `user_lo` have `ix_conversations_pair`);
- friend requests by id, to the user and from the user;
- group invitations by group;
- tokens, oldest first (a backend that mints short-lived tokens gives a user many).
A group's members (at most `HUSHAN_MAX_GROUP_MEMBERS`) and a user's devices (at most
`HUSHAN_MAX_DEVICES`) are few: their primary keys find them, and sorting them costs little.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_conversations_hi", "conversations", ["user_hi", "user_lo"]),
    ("ix_friend_requests_to_page", "friend_requests", ["to_id", "status", "id"]),
    ("ix_friend_requests_from_page", "friend_requests", ["from_id", "status", "id"]),
    ("ix_group_invitations_page", "group_invitations", ["invitee_id", "group_id"]),
    ("ix_tokens_page", "tokens", ["user_id", "created_at", "id"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
