"""The SQL of conversations, their data keys and messages, and the chat list, shared by every
backend (see `hushan.store.sql`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.domain.model import Conversation, HistoryState, ordered
from hushan.store.base import NO_LIMIT, ChatRow, StoredMessage
from hushan.store.holds_sql import HELD

if TYPE_CHECKING:
    from hushan.store.sql import Connection

CONVERSATION_COLUMNS = (
    "id, user_lo, user_hi, state, purge_at, block_deleted, created_at, key_destroyed_at,"
    " rows_purged_at, hold_deferred_at"
)


def maybe_micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def maybe_time(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def conversation_row(row: Sequence[Any]) -> Conversation:
    return Conversation(
        id=int(row[0]),
        user_lo=str(row[1]),
        user_hi=str(row[2]),
        state=HistoryState(row[3]),
        purge_at=maybe_time(row[4]),
        block_deleted=bool(row[5]),
        created_at=from_micros(row[6]),
        key_destroyed_at=maybe_time(row[7]),
        rows_purged_at=maybe_time(row[8]),
        hold_deferred_at=maybe_time(row[9]),
    )


class ConversationsSql:
    _c: Connection
    # A deferred history that no live hold covers any more (a cluster states it as sets).
    _not_held = f"NOT {HELD}"

    def insert_conversation(self, user_lo: str, user_hi: str, now: datetime) -> int:
        row = self._c.execute(
            "INSERT INTO conversations (user_lo, user_hi, state, block_deleted, created_at)"
            " VALUES (?, ?, 'active', FALSE, ?) RETURNING id",
            (user_lo, user_hi, to_micros(now)),
        ).fetchone()
        return int(row[0])

    def insert_key(self, conversation_id: int, lo: str, wrapped_key: bytes) -> None:
        self._c.execute(
            "INSERT INTO conversation_keys (conversation_id, user_lo, wrapped_key)"
            " VALUES (?, ?, ?)",
            (conversation_id, lo, wrapped_key),
        )

    def wrapped_key(self, conversation_id: int, lo: str) -> bytes | None:
        row = self._c.execute(
            "SELECT wrapped_key FROM conversation_keys WHERE conversation_id = ? AND user_lo = ?",
            (conversation_id, lo),
        ).fetchone()
        return None if row is None else bytes(row[0])

    # A conversation's rows are found by its id and its pair's lower id: the id alone would
    # send the statement to every shard of a cluster, where rows are kept by the lower id.
    def set_history(
        self, conversation: Conversation, state: str, purge_at: datetime | None
    ) -> None:
        self._c.execute(
            "UPDATE conversations SET state = ?, purge_at = ? WHERE id = ? AND user_lo = ?",
            (
                state,
                None if purge_at is None else to_micros(purge_at),
                conversation.id,
                conversation.user_lo,
            ),
        )

    def destroy_key(self, conversation: Conversation, now: datetime, block_deleted: bool) -> None:
        where = (conversation.id, conversation.user_lo)
        self._c.execute(
            "DELETE FROM conversation_keys WHERE conversation_id = ? AND user_lo = ?", where
        )
        self._c.execute(
            "UPDATE conversations SET state = 'purged', key_destroyed_at = ?,"
            " block_deleted = (block_deleted OR ?) WHERE id = ? AND user_lo = ?",
            (to_micros(now), block_deleted, *where),
        )

    def due_for_purge(self, now: datetime, limit: int) -> list[Conversation]:
        """Buffered and due, but not those a legal hold kept from their purge while a live
        hold still covers them (the sweep recorded their deferral once already). Those never
        deferred come first, found on an index that leaves the deferred ones out; the deferred
        ones are looked at only once those are done, so a sweep reads each of them once or
        twice however many rounds it takes. Ties of `purge_at` are broken by id, so a sweep
        finds under its locks, in the same order, what it found before them."""
        rows = self._c.execute(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations"
            " WHERE state = 'buffered' AND hold_deferred_at IS NULL AND purge_at <= ?"
            " ORDER BY purge_at, id LIMIT ?",
            (to_micros(now), limit),
        ).fetchall()
        if len(rows) < limit:
            rows += self._c.execute(
                f"SELECT {CONVERSATION_COLUMNS} FROM conversations AS c"
                " WHERE state = 'buffered' AND hold_deferred_at IS NOT NULL AND purge_at <= ?"
                f" AND {self._not_held} ORDER BY purge_at, id LIMIT ?",
                (to_micros(now), limit - len(rows)),
            ).fetchall()
        return [conversation_row(r) for r in rows]

    def purged_with_rows(self, limit: int) -> list[Conversation]:
        rows = self._c.execute(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations"
            " WHERE state = 'purged' AND rows_purged_at IS NULL ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [conversation_row(r) for r in rows]

    def delete_messages(self, conversation: Conversation, limit: int) -> int:
        cur = self._c.execute(
            "DELETE FROM messages WHERE user_lo = ?2 AND id IN (SELECT id FROM messages"
            " WHERE conversation_id = ?1 AND user_lo = ?2 ORDER BY id LIMIT ?3)",
            (conversation.id, conversation.user_lo, limit),
        )
        return cur.rowcount

    def mark_rows_purged(self, conversation: Conversation, now: datetime) -> bool:
        cur = self._c.execute(
            "UPDATE conversations SET rows_purged_at = ? WHERE id = ? AND user_lo = ?"
            " AND rows_purged_at IS NULL",
            (to_micros(now), conversation.id, conversation.user_lo),
        )
        return cur.rowcount == 1

    def insert_message(
        self,
        conversation: Conversation,
        sender_id: str,
        sealed: bytes,
        now: datetime,
        client_msg_id: str | None = None,
    ) -> int:
        row = self._c.execute(
            "INSERT INTO messages (conversation_id, user_lo, sender_id, body, created_at,"
            " client_msg_id) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (
                conversation.id,
                conversation.user_lo,
                sender_id,
                sealed,
                to_micros(now),
                client_msg_id,
            ),
        ).fetchone()
        return int(row[0])

    def user_conversations(self, user_id: str) -> list[Conversation]:
        rows = self._c.execute(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE user_lo = ?1"
            f" UNION ALL SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE user_hi = ?1"
            " ORDER BY 1",
            (user_id,),
        ).fetchall()
        return [conversation_row(r) for r in rows]

    def pair_conversations(self, a: str, b: str) -> list[Conversation]:
        lo, hi = ordered(a, b)
        rows = self._c.execute(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations"
            " WHERE user_lo = ? AND user_hi = ? ORDER BY id",
            (lo, hi),
        ).fetchall()
        return [conversation_row(r) for r in rows]

    def list_messages(
        self, conversation: Conversation, after_id: int, limit: int
    ) -> list[StoredMessage]:
        rows = self._c.execute(
            "SELECT id, sender_id, body, created_at, client_msg_id FROM messages"
            " WHERE conversation_id = ? AND user_lo = ? AND id > ? ORDER BY id LIMIT ?",
            (conversation.id, conversation.user_lo, after_id, limit),
        ).fetchall()
        return [StoredMessage(r[0], r[1], bytes(r[2]), from_micros(r[3]), r[4]) for r in rows]

    def chat_list(self, user_id: str, after: str = "", limit: int = NO_LIMIT) -> list[ChatRow]:
        rows = self._c.execute(
            "SELECT CASE WHEN c.user_lo = ?1 THEN c.user_hi ELSE c.user_lo END, c.id,"
            " (SELECT max(created_at) FROM messages WHERE conversation_id = c.id)"
            " FROM conversations AS c"
            " WHERE (c.user_lo = ?1 AND c.user_hi > ?2 OR c.user_hi = ?1 AND c.user_lo > ?2)"
            " AND c.state = 'active' ORDER BY 1 LIMIT ?3",
            (user_id, after, limit),
        ).fetchall()
        return [ChatRow(r[0], r[1], maybe_time(r[2])) for r in rows]
