"""The SQL of cleanup batches (`hushan.domain.cleanup`), shared by every backend."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.domain.cleanup import BatchItem, CleanupBatch, Parting, Told
from hushan.domain.posts import Layer
from hushan.store.conversations_sql import maybe_micros, maybe_time

if TYPE_CHECKING:
    from hushan.store.sql import Connection


_BATCHES = (
    "SELECT b.id, b.user_id, b.created_at, b.undo_until, b.undone_at,"
    " (SELECT count(*) FROM cleanup_items AS i WHERE i.batch_id = b.id AND i.removed)"
    " FROM cleanup_batches AS b"
)


def _batch(row: Any) -> CleanupBatch:
    return CleanupBatch(
        int(row[0]),
        row[1],
        from_micros(row[2]),
        from_micros(row[3]),
        maybe_time(row[4]),
        int(row[5]),
    )


class CleanupSql:
    """Mixed into `SqlTx`: bulk removals kept for their undo, and the contacts' layers."""

    _c: Connection

    def insert_cleanup_batch(self, user_id: str, now: datetime, undo_until: datetime) -> int:
        row = self._c.execute(
            "INSERT INTO cleanup_batches (user_id, created_at, undo_until) VALUES (?, ?, ?)"
            " RETURNING id",
            (user_id, to_micros(now), to_micros(undo_until)),
        ).fetchone()
        return int(row[0])

    def insert_cleanup_items(self, batch_id: int, user_id: str, items: Sequence[BatchItem]) -> None:
        self._c.executemany(
            "INSERT INTO cleanup_items (batch_id, other_id, user_id, removed, parting, layer, told,"
            " buffered_conversation, buffered_purge_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    batch_id,
                    item.other,
                    user_id,
                    item.removed,
                    None if item.parting is None else item.parting.value,
                    None if item.layer is None else item.layer.value,
                    None if item.told is None else item.told.value,
                    item.buffered_conversation,
                    maybe_micros(item.buffered_purge_at),
                )
                for item in items
            ],
        )

    def cleanup_batch(self, batch_id: int) -> CleanupBatch | None:
        row = self._c.execute(f"{_BATCHES} WHERE b.id = ?", (batch_id,)).fetchone()
        return None if row is None else _batch(row)

    def cleanup_batches(self, user_id: str, before_id: int, limit: int) -> list[CleanupBatch]:
        rows = self._c.execute(
            f"{_BATCHES} WHERE b.user_id = ? AND b.id < ? ORDER BY b.id DESC LIMIT ?",
            (user_id, before_id, limit),
        ).fetchall()
        return [_batch(row) for row in rows]

    def cleanup_items(self, batch_id: int) -> list[BatchItem]:
        rows = self._c.execute(
            "SELECT other_id, removed, parting, layer, told, buffered_conversation,"
            " buffered_purge_at"
            " FROM cleanup_items WHERE batch_id = ? ORDER BY other_id",
            (batch_id,),
        ).fetchall()
        return [
            BatchItem(
                other=r[0],
                removed=bool(r[1]),
                parting=None if r[2] is None else Parting(r[2]),
                layer=None if r[3] is None else Layer(r[3]),
                told=None if r[4] is None else Told(r[4]),
                buffered_conversation=None if r[5] is None else int(r[5]),
                buffered_purge_at=maybe_time(r[6]),
            )
            for r in rows
        ]

    def mark_cleanup_undone(self, batch_id: int, now: datetime) -> None:
        self._c.execute(
            "UPDATE cleanup_batches SET undone_at = ? WHERE id = ?", (to_micros(now), batch_id)
        )

    def contact_layers(self, owner: str) -> dict[str, Layer]:
        rows = self._c.execute(
            "SELECT contact_id, layer FROM edges WHERE owner_id = ?", (owner,)
        ).fetchall()
        return {r[0]: Layer(r[1]) for r in rows}
