"""The SQL of account export and erasure (`hushan.rights`), shared by every backend."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from hushan.clock import to_micros

if TYPE_CHECKING:
    from hushan.store.sql import Connection

# The rows that hold what two users wrote to or about each other outside their history: a
# block-then-delete erases them with it (Rule 6), by the columns that name the two.
_PAIR_TEXT_TABLES = (
    ("friend_requests", "from_id", "to_id"),
    ("proposals", "proposer_id", "other_id"),
    ("contact_tags", "owner_id", "contact_id"),
)
# Every table row that ties another user to the erased one.
_PAIR_TABLES = (
    ("edges", "owner_id", "contact_id"),
    ("blocks", "blocker_id", "blocked_id"),
    ("removals", "remover_id", "removed_id"),
    ("cleanup_items", "user_id", "other_id"),
    *_PAIR_TEXT_TABLES,
)
# The posts of ?1 that only ?2 could see: a tag audience whose one tagged contact is ?2.
_POSTS_ONLY_TO = (
    "SELECT p.id FROM posts AS p WHERE p.author_id = ?1 AND p.audience = 'tag'"
    " AND EXISTS (SELECT 1 FROM contact_tags AS t"
    " WHERE t.owner_id = ?1 AND t.tag = p.tag AND t.contact_id = ?2)"
    " AND NOT EXISTS (SELECT 1 FROM contact_tags AS t"
    " WHERE t.owner_id = ?1 AND t.tag = p.tag AND t.contact_id <> ?2)"
)
_TOKEN = re.compile(r"(->| )")


def rewrite_detail(detail: str, user_id: str, ref: str) -> str:
    """An audit detail with the user's id, where it stands as a whole token, replaced."""
    return "".join(ref if part == user_id else part for part in _TOKEN.split(detail))


class ErasureSql:
    """Mixed into `SqlTx`: what export and erasure read and delete."""

    _c: Connection

    _rewrite_outbox: Callable[[Sequence[tuple[str, str, str, int]]], None]  # see `OutboxSql`

    def start_erasure(self, user_id: str, now: datetime, claim: str, until: datetime) -> bool:
        """The account is gone at once (no token works, nobody can reach it); its data is
        erased next, under `claim` until `until`. False if there is no such account."""
        cur = self._c.execute("DELETE FROM users WHERE id = ?", (user_id,))
        if cur.rowcount != 1:
            return False
        self._c.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,))
        self._c.execute(
            "INSERT INTO erasures (user_id, started_at, claim, claimed_until) VALUES (?, ?, ?, ?)",
            (user_id, to_micros(now), claim, to_micros(until)),
        )
        return True

    def claim_erasure(self, user_id: str, claim: str, now: datetime, until: datetime) -> bool:
        """Hold (or renew) the erasure under `claim` until `until`, unless another claim on it
        is still current."""
        cur = self._c.execute(
            "UPDATE erasures SET claim = ?1, claimed_until = ?2"
            " WHERE user_id = ?3 AND (claim = ?1 OR claimed_until <= ?4)",
            (claim, to_micros(until), user_id, to_micros(now)),
        )
        return int(cur.rowcount) == 1

    def erasure_pending(self, user_id: str) -> bool:
        row = self._c.execute("SELECT 1 FROM erasures WHERE user_id = ?", (user_id,)).fetchone()
        return row is not None

    def pending_erasures(self, now: datetime, limit: int) -> list[str]:
        """Erasures nobody holds a current claim on (queued for a worker, or a crash left them),
        the queued first."""
        rows = self._c.execute(
            "SELECT user_id FROM erasures WHERE claimed_until <= ?"
            " ORDER BY claimed_until, user_id LIMIT ?",
            (to_micros(now), limit),
        ).fetchall()
        return [r[0] for r in rows]

    def related_users(self, user_id: str, limit: int) -> list[str]:
        """Users still tied to the user by any pair row, either way."""
        parts = [
            f"SELECT {b} AS u FROM {table} WHERE {a} = ?1"
            f" UNION SELECT {a} AS u FROM {table} WHERE {b} = ?1"
            for table, a, b in _PAIR_TABLES
        ]
        # A history is a tie until it is purged to its last row, or sealed under a legal hold
        # (which keeps it, under the erased user's reference, until the hold ends).
        unfinished = (
            "NOT (state = 'purged' AND rows_purged_at IS NOT NULL)"
            " AND NOT (state = 'buffered' AND block_deleted)"
        )
        parts.append(
            f"SELECT user_hi AS u FROM conversations WHERE user_lo = ?1 AND {unfinished}"
            f" UNION SELECT user_lo AS u FROM conversations WHERE user_hi = ?1 AND {unfinished}"
        )
        rows = self._c.execute(
            f"SELECT u FROM ({' UNION '.join(parts)}) AS related ORDER BY u LIMIT ?2",
            (user_id, limit),
        ).fetchall()
        return [r[0] for r in rows]

    def erase_pair_texts(self, a: str, b: str) -> int:
        """What the two wrote to or about each other outside their history: requests and
        proposals with their messages, tags, posts only the other could see, and the text of
        their notices about each other. Returns how many rows went."""
        gone = 0
        for author, reader in ((a, b), (b, a)):
            self._c.execute(
                f"DELETE FROM post_hidden_from WHERE post_id IN ({_POSTS_ONLY_TO})",
                (author, reader),
            )
            cur = self._c.execute(
                f"DELETE FROM posts WHERE id IN ({_POSTS_ONLY_TO})", (author, reader)
            )
            gone += int(cur.rowcount)
        gone += self._delete_pair_rows(_PAIR_TEXT_TABLES, a, b)
        self._c.execute(
            "UPDATE notices SET detail = ''"
            " WHERE (user_id = ?1 AND other_id = ?2) OR (user_id = ?2 AND other_id = ?1)",
            (a, b),
        )
        return gone

    def erase_pair_rows(self, user_id: str, other: str) -> int:
        """Every pair row of the two but edges and conversations (the service removes those,
        with their audit entries), texts included. Returns how many rows went."""
        gone = self.erase_pair_texts(user_id, other)
        return gone + self._delete_pair_rows(_PAIR_TABLES[1:], user_id, other)

    def _delete_pair_rows(self, tables: tuple[tuple[str, str, str], ...], a: str, b: str) -> int:
        gone = 0
        for table, x, y in tables:
            cur = self._c.execute(
                f"DELETE FROM {table} WHERE ({x} = ?1 AND {y} = ?2) OR ({x} = ?2 AND {y} = ?1)",
                (a, b),
            )
            gone += int(cur.rowcount)
        return gone

    def erase_own_rows(self, user_id: str, tombstone: str) -> None:
        """What belongs to the user alone: posts, devices, feed, inbox, invitations. The feed's
        newest change stays as a blank row of `tombstone`'s: it may be the table's newest,
        whose rowid SQLite's watchers count on never to be handed out again."""
        self._keep_feed_tombstone(user_id, tombstone)
        statements = (
            "DELETE FROM post_hidden_from WHERE post_id IN"
            " (SELECT id FROM posts WHERE author_id = ?1) OR user_id = ?1",
            "DELETE FROM posts WHERE author_id = ?1",
            "DELETE FROM devices WHERE user_id = ?1",
            "DELETE FROM changes WHERE user_id = ?1",
            "DELETE FROM notices WHERE user_id = ?1",
            "DELETE FROM group_invitations WHERE invitee_id = ?1 OR inviter_id = ?1",
            # The platforms they linked and the apps' grants naming them (already revoked).
            "DELETE FROM platform_links WHERE user_id = ?1",
            "DELETE FROM platform_cases WHERE user_id = ?1",
            "DELETE FROM mini_program_grants WHERE user_id = ?1 OR friend_id = ?1",
            "DELETE FROM cleanup_items WHERE user_id = ?1",
            "DELETE FROM cleanup_batches WHERE user_id = ?1",
        )
        for statement in statements:
            self._c.execute(statement, (user_id,))

    def _rename_pair(self, table: str, old: tuple[str, str], new: tuple[str, str]) -> None:
        """A pair's rows of `table` named by `new` instead; a conversation's key and messages
        follow its lower id."""
        self._c.execute(
            f"UPDATE {table} SET user_lo = ?, user_hi = ? WHERE user_lo = ? AND user_hi = ?",
            (*new, *old),
        )
        if table == "conversations" and new[0] != old[0]:
            for kept in ("conversation_keys", "messages"):
                self._c.execute(
                    f"UPDATE {kept} SET user_lo = ? WHERE conversation_id IN"
                    " (SELECT id FROM conversations WHERE user_lo = ? AND user_hi = ?)",
                    (new[0], *new),
                )

    def _keep_feed_tombstone(self, user_id: str, tombstone: str) -> None:
        self._c.execute(
            "UPDATE changes SET user_id = ?1, kind = 'gone', other_id = NULL,"
            " conversation_id = NULL, message_id = NULL, detail = ''"
            " WHERE user_id = ?2 AND seq = (SELECT MAX(seq) FROM changes WHERE user_id = ?2)",
            (tombstone, user_id),
        )

    def last_audit_seq_of(self, user_id: str) -> int:
        row = self._c.execute(
            "SELECT MAX(seq) FROM audit_log WHERE actor = ?1 OR user_a = ?1 OR user_b = ?1",
            (user_id,),
        ).fetchone()
        return 0 if row[0] is None else int(row[0])

    def replace_user_refs(self, user_id: str, ref_for: Callable[[str], str], claim: str) -> bool:
        """Leave no plain id of the user: in the audit log (its events unchanged; in each pair
        the id replaced by that pair's `ref_for(other)`), the log's lookup columns, others'
        histories, notices and feeds. The log's per-pair salts go, so its hashed refs can no
        longer be tied to the id. Ends the erasure; False (change nothing) if `claim` no
        longer holds it."""
        cur = self._c.execute(
            "DELETE FROM erasures WHERE user_id = ? AND claim = ?", (user_id, claim)
        )
        if cur.rowcount != 1:
            return False
        rows = self._c.execute(
            "SELECT seq, actor, user_a, user_b, detail FROM audit_log"
            " WHERE actor = ?1 OR user_a = ?1 OR user_b = ?1",
            (user_id,),
        ).fetchall()
        updates = []
        for seq, actor, a, b, detail in rows:
            ref = ref_for(b if a == user_id else a)
            names = (ref if name == user_id else name for name in (actor, a, b))
            updates.append((*names, rewrite_detail(detail, user_id, ref), seq))
        self._c.executemany(
            "UPDATE audit_log SET actor = ?, user_a = ?, user_b = ?, detail = ? WHERE seq = ?",
            updates,
        )
        self._rewrite_outbox([(actor, a, b, seq) for actor, a, b, _, seq in updates])
        for table in ("log_leaves", "conversations", "legal_hold_pairs"):
            pairs = self._c.execute(
                f"SELECT DISTINCT user_lo, user_hi FROM {table} WHERE user_lo = ?1 OR user_hi = ?1",
                (user_id,),
            ).fetchall()
            for lo, hi in pairs:
                ref = ref_for(hi if lo == user_id else lo)
                new = (ref if lo == user_id else lo, ref if hi == user_id else hi)
                self._rename_pair(table, (lo, hi), new)
        for table in ("notices", "changes"):
            holders = self._c.execute(
                f"SELECT DISTINCT user_id FROM {table} WHERE other_id = ?", (user_id,)
            ).fetchall()
            for (holder,) in holders:
                self._c.execute(
                    f"UPDATE {table} SET other_id = ? WHERE user_id = ? AND other_id = ?",
                    (ref_for(holder), holder, user_id),
                )
        for table in ("log_pairs", "log_certificates"):
            self._c.execute(f"DELETE FROM {table} WHERE user_lo = ?1 OR user_hi = ?1", (user_id,))
        return True
