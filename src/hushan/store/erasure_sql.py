"""The SQL of account export and erasure (`hushan.rights`), shared by every backend."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from hushan.clock import to_micros

if TYPE_CHECKING:
    from hushan.store.sql import Connection

# Every table row that ties another user to the erased one, by the columns that name them.
_PAIR_TABLES = (
    ("edges", "owner_id", "contact_id"),
    ("blocks", "blocker_id", "blocked_id"),
    ("friend_requests", "from_id", "to_id"),
    ("proposals", "proposer_id", "other_id"),
    ("removals", "remover_id", "removed_id"),
    ("contact_tags", "owner_id", "contact_id"),
    ("conversations", "user_lo", "user_hi"),
)
_TOKEN = re.compile(r"(->| )")


def rewrite_detail(detail: str, user_id: str, ref: str) -> str:
    """An audit detail with the user's id, where it stands as a whole token, replaced."""
    return "".join(ref if part == user_id else part for part in _TOKEN.split(detail))


class ErasureSql:
    """Mixed into `SqlTx`: what export and erasure read and delete."""

    _c: Connection

    def start_erasure(self, user_id: str, now: datetime) -> bool:
        """The account is gone at once (no token works, nobody can reach it); its data is
        erased next. False if there is no such account."""
        cur = self._c.execute("DELETE FROM users WHERE id = ?", (user_id,))
        if cur.rowcount != 1:
            return False
        self._c.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,))
        self._c.execute(
            "INSERT INTO erasures (user_id, started_at) VALUES (?, ?)", (user_id, to_micros(now))
        )
        return True

    def erasure_pending(self, user_id: str) -> bool:
        row = self._c.execute("SELECT 1 FROM erasures WHERE user_id = ?", (user_id,)).fetchone()
        return row is not None

    def pending_erasures(self, limit: int) -> list[str]:
        rows = self._c.execute(
            "SELECT user_id FROM erasures ORDER BY started_at, user_id LIMIT ?", (limit,)
        ).fetchall()
        return [r[0] for r in rows]

    def related_users(self, user_id: str, limit: int) -> list[str]:
        """Users still tied to the user by any pair row, either way."""
        parts = [
            f"SELECT {b} AS u FROM {table} WHERE {a} = ?1"
            f" UNION SELECT {a} AS u FROM {table} WHERE {b} = ?1"
            for table, a, b in _PAIR_TABLES
        ]
        rows = self._c.execute(
            f"SELECT u FROM ({' UNION '.join(parts)}) AS related ORDER BY u LIMIT ?2",
            (user_id, limit),
        ).fetchall()
        return [r[0] for r in rows]

    def erase_pair_rows(self, user_id: str, other: str) -> None:
        """Every pair row of the two but edges and conversations (the service removes those,
        with their audit entries); the other's notices about the user keep no text of theirs."""
        for table, a, b in _PAIR_TABLES[1:6]:
            self._c.execute(
                f"DELETE FROM {table} WHERE ({a} = ?1 AND {b} = ?2) OR ({a} = ?2 AND {b} = ?1)",
                (user_id, other),
            )
        self._c.execute(
            "UPDATE notices SET detail = '' WHERE user_id = ? AND other_id = ?", (other, user_id)
        )

    def delete_conversation(self, conversation_id: int) -> None:
        """A purged conversation's last row (its key and messages are gone already)."""
        self._c.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def erase_own_rows(self, user_id: str) -> None:
        """What belongs to the user alone: posts, devices, feed, inbox, invitations."""
        statements = (
            "DELETE FROM post_hidden_from WHERE post_id IN"
            " (SELECT id FROM posts WHERE author_id = ?1) OR user_id = ?1",
            "DELETE FROM posts WHERE author_id = ?1",
            "DELETE FROM devices WHERE user_id = ?1",
            "DELETE FROM changes WHERE user_id = ?1",
            "DELETE FROM notices WHERE user_id = ?1",
            "DELETE FROM group_invitations WHERE invitee_id = ?1 OR inviter_id = ?1",
        )
        for statement in statements:
            self._c.execute(statement, (user_id,))

    def user_groups_ids(self, user_id: str) -> list[int]:
        rows = self._c.execute(
            "SELECT group_id FROM group_members WHERE user_id = ? ORDER BY group_id", (user_id,)
        ).fetchall()
        return [int(r[0]) for r in rows]

    def last_audit_seq_of(self, user_id: str) -> int:
        row = self._c.execute(
            "SELECT MAX(seq) FROM audit_log WHERE actor = ?1 OR user_a = ?1 OR user_b = ?1",
            (user_id,),
        ).fetchone()
        return 0 if row[0] is None else int(row[0])

    def replace_user_refs(self, user_id: str, ref: str) -> None:
        """Leave no plain id of the user: in the audit log (its events unchanged, the id
        replaced by `ref`), the log's lookup columns, others' notices and feeds. The log's
        per-pair salts go, so its hashed refs can no longer be tied to the id."""
        rows = self._c.execute(
            "SELECT seq, actor, user_a, user_b, detail FROM audit_log"
            " WHERE actor = ?1 OR user_a = ?1 OR user_b = ?1",
            (user_id,),
        ).fetchall()
        self._c.executemany(
            "UPDATE audit_log SET actor = ?, user_a = ?, user_b = ?, detail = ? WHERE seq = ?",
            [
                (
                    *(ref if name == user_id else name for name in (actor, a, b)),
                    rewrite_detail(detail, user_id, ref),
                    seq,
                )
                for seq, actor, a, b, detail in rows
            ],
        )
        for column in ("user_lo", "user_hi"):
            self._c.execute(
                f"UPDATE log_leaves SET {column} = ? WHERE {column} = ?", (ref, user_id)
            )
        self._c.execute("DELETE FROM log_pairs WHERE user_lo = ?1 OR user_hi = ?1", (user_id,))
        self._c.execute(
            "DELETE FROM log_certificates WHERE user_lo = ?1 OR user_hi = ?1", (user_id,)
        )
        self._c.execute("UPDATE notices SET other_id = ? WHERE other_id = ?", (ref, user_id))
        self._c.execute("UPDATE changes SET other_id = ? WHERE other_id = ?", (ref, user_id))
        self._c.execute("DELETE FROM erasures WHERE user_id = ?", (user_id,))
