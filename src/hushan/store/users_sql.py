"""The SQL of users and their tokens, shared by every backend (see `hushan.store.sql`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from hushan.clock import from_micros, to_micros
from hushan.domain.model import User
from hushan.domain.notices import NoticeGrade

if TYPE_CHECKING:
    from hushan.store.sql import Connection


class UsersSql:
    _c: Connection

    def insert_user(self, user: User) -> bool:
        cur = self._c.execute(
            "INSERT INTO users (id, display_name, verification_required, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (user.id, user.display_name, user.verification_required, to_micros(user.created_at)),
        )
        return cur.rowcount == 1

    def get_user(self, user_id: str) -> User | None:
        row = self._c.execute(
            "SELECT id, display_name, verification_required, created_at, notice_grade,"
            " hide_shared_groups FROM users WHERE id = ?",
            (user_id,),
        ).fetchone()
        if row is None:
            return None
        created_at, grade = from_micros(row[3]), NoticeGrade(row[4])
        return User(row[0], row[1], bool(row[2]), created_at, grade, bool(row[5]))

    def set_verification(self, user_id: str, required: bool) -> None:
        self._c.execute(
            "UPDATE users SET verification_required = ? WHERE id = ?", (required, user_id)
        )

    def insert_token(self, token_hash: str, user_id: str, now: datetime) -> None:
        self._c.execute(
            "INSERT INTO tokens (token_hash, user_id, created_at) VALUES (?, ?, ?)",
            (token_hash, user_id, to_micros(now)),
        )

    def user_for_token(self, token_hash: str) -> str | None:
        row = self._c.execute(
            "SELECT user_id FROM tokens WHERE token_hash = ?", (token_hash,)
        ).fetchone()
        return None if row is None else str(row[0])
