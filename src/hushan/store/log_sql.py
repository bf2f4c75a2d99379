"""The SQL of the transparency log's tables (leaves, nodes, pairs, checkpoints, certificates),
shared by every backend (see `hushan.store.sql`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.store.base import LogLeaf, StoredCheckpoint

if TYPE_CHECKING:
    from hushan.store.sql import Connection

_LEAF_COLUMNS = "idx, seq, user_lo, user_hi, pair_n, entry, hash"
_CHECKPOINT_COLUMNS = "size, root, note, published_at"


def _leaf(row: Sequence[Any]) -> LogLeaf:
    return LogLeaf(row[0], row[1], row[2], row[3], row[4], row[5], bytes(row[6]))


def _checkpoint(row: Sequence[Any]) -> StoredCheckpoint:
    return StoredCheckpoint(int(row[0]), bytes(row[1]), str(row[2]), from_micros(row[3]))


class LogSql:
    _c: Connection

    def log_head(self) -> tuple[int, int]:
        row = self._c.execute(
            "SELECT idx + 1, seq FROM log_leaves ORDER BY idx DESC LIMIT 1"
        ).fetchone()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    def log_pair(self, lo: str, hi: str) -> tuple[bytes, int] | None:
        row = self._c.execute(
            "SELECT salt, entries FROM log_pairs WHERE user_lo = ? AND user_hi = ?", (lo, hi)
        ).fetchone()
        return None if row is None else (bytes(row[0]), int(row[1]))

    def save_log_pair(self, lo: str, hi: str, salt: bytes, entries: int) -> None:
        self._c.execute(
            "INSERT INTO log_pairs (user_lo, user_hi, salt, entries) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_lo, user_hi) DO UPDATE SET entries = excluded.entries",
            (lo, hi, salt, entries),
        )

    def append_leaves(self, leaves: Sequence[LogLeaf]) -> None:
        self._c.executemany(
            "INSERT INTO log_leaves (idx, seq, user_lo, user_hi, pair_n, entry, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(x.index, x.seq, x.user_lo, x.user_hi, x.pair_n, x.entry, x.hash) for x in leaves],
        )

    def put_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        self._c.executemany("INSERT INTO log_nodes (level, idx, hash) VALUES (?, ?, ?)", nodes)

    def node(self, level: int, index: int) -> bytes:
        row = (
            self._c.execute("SELECT hash FROM log_leaves WHERE idx = ?", (index,))
            if level == 0
            else self._c.execute(
                "SELECT hash FROM log_nodes WHERE level = ? AND idx = ?", (level, index)
            )
        ).fetchone()
        if row is None:
            raise KeyError((level, index))
        return bytes(row[0])

    def pair_leaves(self, lo: str, hi: str, below: int) -> list[LogLeaf]:
        rows = self._c.execute(
            f"SELECT {_LEAF_COLUMNS} FROM log_leaves"
            " WHERE user_lo = ? AND user_hi = ? AND idx < ? ORDER BY pair_n",
            (lo, hi, below),
        ).fetchall()
        return [_leaf(r) for r in rows]

    def leaves(self, after: int, limit: int) -> list[LogLeaf]:
        rows = self._c.execute(
            f"SELECT {_LEAF_COLUMNS} FROM log_leaves WHERE idx > ? ORDER BY idx LIMIT ?",
            (after, limit),
        ).fetchall()
        return [_leaf(r) for r in rows]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        row = self._c.execute(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM log_checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return None if row is None else _checkpoint(row)

    def checkpoints(self, after_size: int, limit: int) -> list[StoredCheckpoint]:
        rows = self._c.execute(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM log_checkpoints WHERE size > ?"
            " ORDER BY size LIMIT ?",
            (after_size, limit),
        ).fetchall()
        return [_checkpoint(r) for r in rows]

    def put_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        self._c.execute(
            "INSERT INTO log_checkpoints (size, root, note, published_at) VALUES (?, ?, ?, ?)",
            (checkpoint.size, checkpoint.root, checkpoint.note, to_micros(checkpoint.published_at)),
        )

    def last_certificate_size(self, lo: str, hi: str) -> int | None:
        row = self._c.execute(
            "SELECT size FROM log_certificates WHERE user_lo = ? AND user_hi = ?"
            " ORDER BY id DESC LIMIT 1",
            (lo, hi),
        ).fetchone()
        return None if row is None else int(row[0])

    def put_certificate(self, lo: str, hi: str, holder: str, size: int, now: datetime) -> None:
        self._c.execute(
            "INSERT INTO log_certificates (user_lo, user_hi, holder, size, issued_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (lo, hi, holder, size, to_micros(now)),
        )
