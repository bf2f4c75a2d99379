"""The SQL of idempotency keys (hushan.api.idempotency) and of messages' client ids, shared
by every backend (see `hushan.store.sql`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from hushan.clock import from_micros, to_micros
from hushan.store.base import StoredMessage, StoredReply

if TYPE_CHECKING:
    from hushan.store.sql import Connection


class IdempotencySql:
    _c: Connection

    def idempotent_reply(self, caller: str, key: str, now: datetime) -> StoredReply | None:
        row = self._c.execute(
            "SELECT fingerprint, status, headers, body FROM idempotency_keys"
            " WHERE caller = ? AND key = ? AND expires_at > ?",
            (caller, key, to_micros(now)),
        ).fetchone()
        if row is None:
            return None
        headers = [(name, value) for name, value in json.loads(row[2])]
        return StoredReply(bytes(row[0]), int(row[1]), headers, bytes(row[3]))

    def put_idempotent_reply(
        self, caller: str, key: str, reply: StoredReply, now: datetime, expires_at: datetime
    ) -> bool:
        # An expired row not yet pruned is taken over; a live one is left as it is (False).
        cur = self._c.execute(
            "INSERT INTO idempotency_keys (caller, key, fingerprint, status, headers, body,"
            " expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (caller, key) DO UPDATE"
            " SET fingerprint = ?3, status = ?4, headers = ?5, body = ?6, expires_at = ?7"
            " WHERE idempotency_keys.expires_at <= ?8",
            (
                caller,
                key,
                reply.fingerprint,
                reply.status,
                json.dumps(reply.headers),
                reply.body,
                to_micros(expires_at),
                to_micros(now),
            ),
        )
        return cur.rowcount == 1

    def prune_idempotency(self, now: datetime, limit: int) -> int:
        cur = self._c.execute(
            "DELETE FROM idempotency_keys WHERE (caller, key) IN (SELECT caller, key FROM"
            " idempotency_keys WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)",
            (to_micros(now), limit),
        )
        return cur.rowcount

    def message_by_client_id(
        self, sender_id: str, client_msg_id: str
    ) -> tuple[int, str, StoredMessage] | None:
        """The sender's message with that client id, its conversation and its pair's lower id."""
        row = self._c.execute(
            "SELECT conversation_id, user_lo, id, body, created_at FROM messages"
            " WHERE sender_id = ? AND client_msg_id = ?",
            (sender_id, client_msg_id),
        ).fetchone()
        if row is None:
            return None
        stored = StoredMessage(row[2], sender_id, bytes(row[3]), from_micros(row[4]), client_msg_id)
        return int(row[0]), str(row[1]), stored

    def forget_client_id(self, message_id: int) -> None:
        self._c.execute("UPDATE messages SET client_msg_id = NULL WHERE id = ?", (message_id,))
