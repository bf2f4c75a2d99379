"""The SQL of users (their tokens: `auth_sql`), shared by every backend (see `hushan.store.sql`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.domain.model import User
from hushan.domain.notices import NoticeGrade
from hushan.store.base import NO_LIMIT

if TYPE_CHECKING:
    from hushan.store.sql import Connection


_USER_COLUMNS = (
    "id, display_name, verification_required, created_at, notice_grade, hide_shared_groups"
)


def _user(row: Any) -> User:
    created_at, grade = from_micros(row[3]), NoticeGrade(row[4])
    return User(row[0], row[1], bool(row[2]), created_at, grade, bool(row[5]))


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
            f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        return None if row is None else _user(row)

    def set_display_name(self, user_id: str, display_name: str) -> None:
        self._c.execute("UPDATE users SET display_name = ? WHERE id = ?", (display_name, user_id))

    def list_users(self, after: str = "", limit: int = NO_LIMIT) -> list[User]:
        rows = self._c.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        ).fetchall()
        return [_user(r) for r in rows]

    def set_verification(self, user_id: str, required: bool) -> None:
        self._c.execute(
            "UPDATE users SET verification_required = ? WHERE id = ?", (required, user_id)
        )
