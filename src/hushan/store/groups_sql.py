"""The SQL of groups (`hushan.domain.groups`), shared by every backend."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.domain.groups import Group, GroupInvitation, GroupMember
from hushan.store.base import FROM_START, NO_LIMIT

if TYPE_CHECKING:
    from hushan.store.sql import Connection

_GROUP = (
    "g.id, g.name, g.owner_id, g.created_at,"
    " (SELECT count(*) FROM group_members c WHERE c.group_id = g.id)"
)


def _group(row: Any) -> Group:
    return Group(int(row[0]), row[1], row[2], from_micros(row[3]), int(row[4]))


class GroupsSql:
    """Mixed into `SqlTx`: groups, members, invitations, and the shared-group setting."""

    _c: Connection

    def set_hide_shared_groups(self, user_id: str, hide: bool) -> None:
        self._c.execute("UPDATE users SET hide_shared_groups = ? WHERE id = ?", (hide, user_id))

    def insert_group(self, name: str, owner: str, now: datetime) -> int:
        row = self._c.execute(
            "INSERT INTO groups (name, owner_id, created_at) VALUES (?, ?, ?) RETURNING id",
            (name, owner, to_micros(now)),
        ).fetchone()
        group_id = int(row[0])
        self.add_member(group_id, owner, now)
        return group_id

    def get_group(self, group_id: int) -> Group | None:
        row = self._c.execute(
            f"SELECT {_GROUP} FROM groups g WHERE g.id = ?", (group_id,)
        ).fetchone()
        return None if row is None else _group(row)

    def add_member(self, group_id: int, user_id: str, now: datetime) -> None:
        self._c.execute(
            "INSERT INTO group_members (group_id, user_id, joined_at) VALUES (?, ?, ?)",
            (group_id, user_id, to_micros(now)),
        )

    def remove_member(self, group_id: int, user_id: str) -> bool:
        cur = self._c.execute(
            "DELETE FROM group_members WHERE group_id = ? AND user_id = ?", (group_id, user_id)
        )
        return int(cur.rowcount) == 1

    def is_member(self, group_id: int, user_id: str) -> bool:
        row = self._c.execute(
            "SELECT 1 FROM group_members WHERE group_id = ? AND user_id = ?", (group_id, user_id)
        ).fetchone()
        return row is not None

    def group_members(
        self,
        group_id: int,
        after: tuple[datetime, str] = FROM_START,
        limit: int = NO_LIMIT,
    ) -> list[GroupMember]:
        rows = self._c.execute(
            "SELECT user_id, joined_at FROM group_members WHERE group_id = ?"
            " AND (joined_at, user_id) > (?, ?) ORDER BY joined_at, user_id LIMIT ?",
            (group_id, to_micros(after[0]), after[1], limit),
        ).fetchall()
        return [GroupMember(r[0], from_micros(r[1])) for r in rows]

    def set_group_owner(self, group_id: int, owner: str) -> None:
        self._c.execute("UPDATE groups SET owner_id = ? WHERE id = ?", (owner, group_id))

    def delete_group(self, group_id: int) -> None:
        self._c.execute("DELETE FROM group_invitations WHERE group_id = ?", (group_id,))
        self._c.execute("DELETE FROM groups WHERE id = ?", (group_id,))

    def user_groups(self, user_id: str, after_id: int = 0, limit: int = NO_LIMIT) -> list[Group]:
        rows = self._c.execute(
            f"SELECT {_GROUP} FROM groups g JOIN group_members m ON m.group_id = g.id"
            " WHERE m.user_id = ? AND g.id > ? ORDER BY g.id LIMIT ?",
            (user_id, after_id, limit),
        ).fetchall()
        return [_group(r) for r in rows]

    def shared_groups(self, a: str, b: str) -> list[Group]:
        rows = self._c.execute(
            f"SELECT {_GROUP} FROM groups g"
            " JOIN group_members ma ON ma.group_id = g.id AND ma.user_id = ?"
            " JOIN group_members mb ON mb.group_id = g.id AND mb.user_id = ?"
            " ORDER BY g.id",
            (a, b),
        ).fetchall()
        return [_group(r) for r in rows]

    def put_group_invitation(
        self, group_id: int, inviter: str, invitee: str, swallowed: bool, now: datetime
    ) -> None:
        """Create the invitation, or replace the pending one (no duplicates), unless that one
        is visible and this one swallowed."""
        self._c.execute(
            "INSERT INTO group_invitations (group_id, invitee_id, inviter_id, swallowed,"
            " created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (group_id, invitee_id) DO UPDATE"
            " SET inviter_id = excluded.inviter_id, swallowed = excluded.swallowed,"
            " created_at = excluded.created_at"
            # A swallowed invitation never replaces one the invitee can see (Rule 3).
            " WHERE group_invitations.swallowed OR NOT excluded.swallowed",
            (group_id, invitee, inviter, swallowed, to_micros(now)),
        )

    def take_group_invitation(self, group_id: int, invitee: str) -> GroupInvitation | None:
        """Remove the invitee's pending invitation to the group and return it."""
        row = self._c.execute(
            "DELETE FROM group_invitations WHERE group_id = ? AND invitee_id = ?"
            " RETURNING inviter_id, swallowed, created_at",
            (group_id, invitee),
        ).fetchone()
        if row is None:
            return None
        return GroupInvitation(group_id, "", row[0], invitee, from_micros(row[2]), bool(row[1]))

    def group_invitations(
        self, invitee: str, after_group: int = 0, limit: int = NO_LIMIT
    ) -> list[GroupInvitation]:
        """The invitee's pending invitations, minus swallowed ones."""
        rows = self._c.execute(
            "SELECT i.group_id, g.name, i.inviter_id, i.created_at FROM group_invitations i"
            " JOIN groups g ON g.id = i.group_id"
            " WHERE i.invitee_id = ? AND i.group_id > ? AND NOT i.swallowed"
            " AND NOT EXISTS (SELECT 1 FROM blocks b"
            " WHERE b.blocker_id = i.invitee_id AND b.blocked_id = i.inviter_id)"
            " ORDER BY i.group_id LIMIT ?",
            (invitee, after_group, limit),
        ).fetchall()
        return [GroupInvitation(int(r[0]), r[1], r[2], invitee, from_micros(r[3])) for r in rows]
