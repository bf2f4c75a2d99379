"""The SQL of graded deletion notices (`hushan.domain.notices`), shared by every backend."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.domain.notices import Notice, NoticeGrade, NoticeKind, Removal

if TYPE_CHECKING:
    from hushan.store.sql import Connection

_NOTICE_COLUMNS = "id, user_id, kind, other_id, happened_at, delivered_at, read_at, detail"


def _notice(row: Any) -> Notice:
    return Notice(
        id=int(row[0]),
        user_id=row[1],
        kind=NoticeKind(row[2]),
        other=row[3],
        at=from_micros(row[4]),
        delivered_at=from_micros(row[5]),
        read_at=None if row[6] is None else from_micros(row[6]),
        detail=row[7],
    )


class NoticesSql:
    """Mixed into `SqlTx`: removals in force and the notices inbox."""

    _c: Connection

    def set_notice_grade(self, user_id: str, grade: NoticeGrade) -> None:
        self._c.execute("UPDATE users SET notice_grade = ? WHERE id = ?", (grade.value, user_id))

    def record_removal(self, removal: Removal) -> None:
        disclosed = None if removal.disclosed_at is None else to_micros(removal.disclosed_at)
        self._c.execute(
            "INSERT INTO removals (remover_id, removed_id, removed_at, grade, disclosed_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (remover_id, removed_id) DO UPDATE SET"
            " removed_at = excluded.removed_at, grade = excluded.grade,"
            " disclosed_at = excluded.disclosed_at",
            (
                removal.remover,
                removal.removed,
                to_micros(removal.at),
                removal.grade.value,
                disclosed,
            ),
        )

    def end_removal(self, remover: str, removed: str) -> None:
        self._c.execute(
            "DELETE FROM removals WHERE remover_id = ? AND removed_id = ?", (remover, removed)
        )

    def removal(self, remover: str, removed: str) -> Removal | None:
        row = self._c.execute(
            "SELECT removed_at, grade, disclosed_at FROM removals"
            " WHERE remover_id = ? AND removed_id = ?",
            (remover, removed),
        ).fetchone()
        if row is None:
            return None
        disclosed = None if row[2] is None else from_micros(row[2])
        return Removal(remover, removed, from_micros(row[0]), NoticeGrade(row[1]), disclosed)

    def mark_removal_disclosed(self, remover: str, removed: str, now: datetime) -> None:
        self._c.execute(
            "UPDATE removals SET disclosed_at = ? WHERE remover_id = ? AND removed_id = ?",
            (to_micros(now), remover, removed),
        )

    def add_notice(
        self,
        user_id: str,
        kind: NoticeKind,
        other: str,
        happened: datetime,
        now: datetime,
        detail: str = "",
    ) -> None:
        self._c.execute(
            "INSERT INTO notices (user_id, kind, other_id, happened_at, delivered_at, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (user_id, kind.value, other, to_micros(happened), to_micros(now), detail),
        )

    def notices(self, user_id: str, after_id: int, limit: int) -> list[Notice]:
        rows = self._c.execute(
            f"SELECT {_NOTICE_COLUMNS} FROM notices WHERE user_id = ? AND id > ?"
            " ORDER BY id LIMIT ?",
            (user_id, after_id, limit),
        ).fetchall()
        return [_notice(r) for r in rows]

    def mark_notices_read(self, user_id: str, up_to_id: int, now: datetime) -> int:
        cur = self._c.execute(
            "UPDATE notices SET read_at = ? WHERE user_id = ? AND id <= ? AND read_at IS NULL",
            (to_micros(now), user_id, up_to_id),
        )
        return int(cur.rowcount)
