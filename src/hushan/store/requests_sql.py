"""The SQL of friend requests, shared by every backend (see `hushan.store.sql`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.domain.model import FriendRequest, RequestStatus
from hushan.store.base import NO_LIMIT

if TYPE_CHECKING:
    from hushan.store.sql import Connection

_REQUEST_COLUMNS = "id, from_id, to_id, message, status, created_at, expires_at, swallowed"


def _request(row: Sequence[Any]) -> FriendRequest:
    return FriendRequest(
        id=int(row[0]),
        from_id=str(row[1]),
        to_id=str(row[2]),
        message=str(row[3]),
        status=RequestStatus(row[4]),
        created_at=from_micros(row[5]),
        expires_at=from_micros(row[6]),
        swallowed=bool(row[7]),
    )


class RequestsSql:
    _c: Connection

    def pending_request(self, from_id: str, to_id: str, now: datetime) -> FriendRequest | None:
        row = self._c.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM friend_requests"
            " WHERE from_id = ? AND to_id = ? AND status = 'pending' AND expires_at > ?",
            (from_id, to_id, to_micros(now)),
        ).fetchone()
        return None if row is None else _request(row)

    def put_pending_request(
        self,
        from_id: str,
        to_id: str,
        message: str,
        swallowed: bool,
        now: datetime,
        expires_at: datetime,
    ) -> int:
        # A pending row may exist but be past its expiry: it is replaced all the same.
        row = self._c.execute(
            "INSERT INTO friend_requests"
            " (from_id, to_id, message, status, swallowed, created_at, expires_at)"
            " VALUES (?, ?, ?, 'pending', ?, ?, ?)"
            " ON CONFLICT (from_id, to_id) WHERE status = 'pending' DO UPDATE SET"
            " message = excluded.message, swallowed = excluded.swallowed,"
            " created_at = excluded.created_at, expires_at = excluded.expires_at"
            " RETURNING id",
            (from_id, to_id, message, swallowed, to_micros(now), to_micros(expires_at)),
        ).fetchone()
        return int(row[0])

    def decide_request(self, request_id: int, status: str, now: datetime) -> None:
        self._c.execute(
            "UPDATE friend_requests SET status = ?, decided_at = ? WHERE id = ?",
            (status, to_micros(now), request_id),
        )

    def close_pending_between(self, a: str, b: str, now: datetime) -> list[FriendRequest]:
        rows = self._c.execute(
            "UPDATE friend_requests SET status = 'accepted', decided_at = ?"
            " WHERE status = 'pending'"
            " AND ((from_id = ? AND to_id = ?) OR (from_id = ? AND to_id = ?))"
            f" RETURNING {_REQUEST_COLUMNS}",
            (to_micros(now), a, b, b, a),
        ).fetchall()
        return [_request(r) for r in rows]

    def list_incoming(
        self, to_id: str, now: datetime, after_id: int = 0, limit: int = NO_LIMIT
    ) -> list[FriendRequest]:
        rows = self._c.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM friend_requests AS r WHERE to_id = ?1"
            " AND status = 'pending' AND NOT swallowed AND expires_at > ?2 AND id > ?3"
            " AND NOT EXISTS"
            " (SELECT 1 FROM blocks WHERE blocker_id = ?1 AND blocked_id = r.from_id)"
            " ORDER BY id LIMIT ?4",
            (to_id, to_micros(now), after_id, limit),
        ).fetchall()
        return [_request(r) for r in rows]

    def list_outgoing(
        self, from_id: str, now: datetime, after_id: int = 0, limit: int = NO_LIMIT
    ) -> list[FriendRequest]:
        rows = self._c.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM friend_requests AS r WHERE from_id = ?1"
            " AND status = 'pending' AND expires_at > ?2 AND id > ?3"
            " AND NOT EXISTS"
            " (SELECT 1 FROM edges WHERE owner_id = ?1 AND contact_id = r.to_id)"
            " ORDER BY id LIMIT ?4",
            (from_id, to_micros(now), after_id, limit),
        ).fetchall()
        return [_request(r) for r in rows]

    def due_requests(self, now: datetime, limit: int) -> list[FriendRequest]:
        rows = self._c.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM friend_requests"
            " WHERE status = 'pending' AND expires_at <= ? ORDER BY id LIMIT ?",
            (to_micros(now), limit),
        ).fetchall()
        return [_request(r) for r in rows]
