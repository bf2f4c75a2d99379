"""The SQL of the device sync feed (`hushan.domain.sync`), shared by every backend."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.domain.model import Conversation
from hushan.domain.sync import ChangeKind, Device, NewChange
from hushan.store.base import FROM_START, NO_LIMIT, StoredChange, StoredMessage

if TYPE_CHECKING:
    from hushan.store.sql import Connection

# The next number of the user's own sequence. The writer holds the user's lock (every write
# names the users it changes), so no other transaction can draw the same number. Only a user
# with a device has a feed: a device starts at the head, having loaded the state by the usual
# calls, so nothing is lost, and a deployment or user without devices pays no write for it.
_INSERT_CHANGE = (
    "INSERT INTO changes (user_id, seq, kind, other_id, conversation_id, message_id, detail,"
    " created_at) SELECT ?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM changes WHERE user_id = ?1),"
    " ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM devices WHERE user_id = ?1)"
)
_KINDS = {kind.value: kind for kind in ChangeKind}  # a lookup: the catch-up's hot loop
_DEVICE_COLUMNS = "id, user_id, name, cursor, registered_at, acknowledged_at"


def _device(row: Any) -> Device:
    acknowledged = None if row[5] is None else from_micros(row[5])
    return Device(row[0], row[1], row[2], int(row[3]), from_micros(row[4]), acknowledged)


class SyncSql:
    """Mixed into `SqlTx`: the changes feed and devices."""

    _c: Connection

    def add_changes(self, changes: Sequence[NewChange], now: datetime) -> None:
        """Append each change to its user's feed, if they have a device."""
        at = to_micros(now)
        self._c.executemany(
            _INSERT_CHANGE,
            [
                (
                    c.user,
                    c.kind.value,
                    c.other,
                    c.conversation_id,
                    c.message_id,
                    c.detail,
                    at,
                )
                for c in changes
            ],
        )

    def change_bounds(self, user_id: str) -> tuple[int, int | None]:
        """(the user's newest seq, 0 if none; their oldest kept seq, None if none)."""
        # Two subqueries: each is one index descent, where MAX and MIN in one SELECT would
        # read every row of the user's feed (SQLite's min/max shortcut takes one at a time).
        row = self._c.execute(
            "SELECT (SELECT MAX(seq) FROM changes WHERE user_id = ?1),"
            " (SELECT MIN(seq) FROM changes WHERE user_id = ?1)",
            (user_id,),
        ).fetchone()
        return (0, None) if row[0] is None else (int(row[0]), int(row[1]))

    def changes_after(self, user_id: str, after: int, limit: int) -> list[StoredChange]:
        rows = self._c.execute(
            "SELECT c.seq, c.kind, c.other_id, c.conversation_id, c.detail, c.created_at,"
            " m.id, m.sender_id, m.body, m.client_msg_id, m.user_lo"
            " FROM changes c LEFT JOIN messages m ON m.id = c.message_id"
            " WHERE c.user_id = ? AND c.seq > ? ORDER BY c.seq LIMIT ?",
            (user_id, after, limit),
        ).fetchall()
        found = []
        for seq, kind, other, conversation_id, detail, created_at, *sent in rows:
            at = from_micros(created_at)  # a message's change is made with the message
            message_id, sender, body, client_msg_id, lo = sent
            message = (
                None
                if message_id is None
                else StoredMessage(message_id, sender, body, at, client_msg_id)
            )
            found.append(
                StoredChange(
                    seq, _KINDS[kind], at, other or "", conversation_id, message, detail, lo
                )
            )
        return found

    def blank_message_changes(self, conversation: Conversation) -> None:
        """Blank both users' feed changes for the messages of a purged conversation: the
        feed keeps no trace of them. Each user's feed is read by its key, with no index on
        messages to keep up on every send: this runs once per purge, in the background."""
        for user in (conversation.user_lo, conversation.user_hi):
            self._c.execute(
                "UPDATE changes SET kind = 'gone', other_id = NULL, conversation_id = NULL,"
                " message_id = NULL WHERE user_id = ? AND conversation_id = ?"
                " AND kind = 'message'",
                (user, conversation.id),
            )

    def prune_changes(self, before: datetime, limit: int) -> int:
        """Drop up to `limit` changes made before `before`, never a user's newest."""
        cur = self._c.execute(
            "DELETE FROM changes WHERE (user_id, seq) IN (SELECT c.user_id, c.seq FROM changes c"
            " WHERE c.created_at < ? AND c.seq < (SELECT MAX(n.seq) FROM changes n"
            " WHERE n.user_id = c.user_id) LIMIT ?)",
            (to_micros(before), limit),
        )
        return int(cur.rowcount)

    def purge_seqs(self, user_id: str) -> dict[int, int]:
        """For each conversation of the user's that was purged: the seq of its purge change."""
        rows = self._c.execute(
            "SELECT conversation_id, MAX(seq) FROM changes WHERE user_id = ? AND kind = 'purge'"
            " GROUP BY conversation_id",
            (user_id,),
        ).fetchall()
        return {int(r[0]): int(r[1]) for r in rows}

    # devices
    def insert_device(self, device: Device) -> None:
        self._c.execute(
            f"INSERT INTO devices ({_DEVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL)",
            (device.id, device.user, device.name, device.cursor, to_micros(device.registered_at)),
        )

    def device(self, user_id: str, device_id: str) -> Device | None:
        row = self._c.execute(
            f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE user_id = ? AND id = ?",
            (user_id, device_id),
        ).fetchone()
        return None if row is None else _device(row)

    def devices(
        self,
        user_id: str,
        after: tuple[datetime, str] = FROM_START,
        limit: int = NO_LIMIT,
    ) -> list[Device]:
        rows = self._c.execute(
            f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE user_id = ?"
            " AND (registered_at, id) > (?, ?) ORDER BY registered_at, id LIMIT ?",
            (user_id, to_micros(after[0]), after[1], limit),
        ).fetchall()
        return [_device(r) for r in rows]

    def acknowledge(self, user_id: str, device_id: str, cursor: int, now: datetime) -> None:
        """Move the device's cursor forward to `cursor` (never back)."""
        self._c.execute(
            "UPDATE devices SET cursor = CASE WHEN cursor > ?1 THEN cursor ELSE ?1 END,"
            " acknowledged_at = ?2 WHERE user_id = ?3 AND id = ?4",
            (cursor, to_micros(now), user_id, device_id),
        )

    def delete_device(self, user_id: str, device_id: str) -> bool:
        cur = self._c.execute(
            "DELETE FROM devices WHERE user_id = ? AND id = ?", (user_id, device_id)
        )
        return int(cur.rowcount) == 1
