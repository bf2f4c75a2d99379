"""The SQL of the transparency log's tables (leaves, nodes, pairs, checkpoints, certificates),
shared by every backend (see `hushan.store.sql`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.store.base import LogLeaf, StoredCheckpoint
from hushan.tlog.smt import EMPTY, Node, Position

if TYPE_CHECKING:
    from hushan.store.sql import Connection

_LEAF_COLUMNS = "idx, seq, user_lo, user_hi, pair_n, entry, hash"
_CHECKPOINT_COLUMNS = "size, root, note, published_at"
_MAP_CHUNK = 500  # prefixes per IN list: far below every backend's parameter limit


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

    def pair_leaf_count(self, lo: str, hi: str) -> int:
        row = self._c.execute(
            "SELECT MAX(pair_n) FROM log_leaves WHERE user_lo = ? AND user_hi = ?", (lo, hi)
        ).fetchone()
        return 0 if row[0] is None else int(row[0])

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

    def add_checkpoint_signatures(self, size: int, lines: str) -> None:
        self._c.execute("UPDATE log_checkpoints SET note = note || ? WHERE size = ?", (lines, size))

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

    # ---- the map of each pair's latest entry (hushan.tlog.smt) ---------------------------------
    def map_nodes(self, positions: Sequence[Position]) -> dict[Position, Node]:
        by_depth: dict[int, list[bytes]] = {}
        for depth, prefix in positions:
            by_depth.setdefault(depth, []).append(prefix.to_bytes(32))
        found: dict[Position, Node] = {}
        for depth, prefixes in by_depth.items():
            for start in range(0, len(prefixes), _MAP_CHUNK):
                chunk = prefixes[start : start + _MAP_CHUNK]
                rows = self._c.execute(
                    "SELECT prefix, hash, map_key, map_value FROM log_map_nodes"
                    f" WHERE depth = ? AND prefix IN ({', '.join('?' * len(chunk))})",
                    (depth, *chunk),
                ).fetchall()
                for prefix, digest, key, value in rows:
                    found[depth, int.from_bytes(bytes(prefix))] = Node(
                        bytes(digest),
                        None if key is None else bytes(key),
                        None if value is None else bytes(value),
                    )
        return found

    def put_map_nodes(self, nodes: Sequence[tuple[Position, Node]]) -> None:
        self._c.executemany(
            "INSERT INTO log_map_nodes (depth, prefix, hash, map_key, map_value)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (depth, prefix) DO UPDATE SET"
            " hash = excluded.hash, map_key = excluded.map_key, map_value = excluded.map_value",
            [(d, p.to_bytes(32), n.hash, n.key, n.value) for (d, p), n in nodes],
        )

    def map_head(self) -> tuple[int, bytes]:
        row = self._c.execute("SELECT size, root FROM log_map_head WHERE id = 1").fetchone()
        return (0, EMPTY) if row is None else (int(row[0]), bytes(row[1]))

    def set_map_head(self, size: int, root: bytes) -> None:
        self._c.execute(
            "INSERT INTO log_map_head (id, size, root) VALUES (1, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET size = excluded.size, root = excluded.root",
            (size, root),
        )
