"""The SQL of a pair: its facts (one statement), the statuses of a batch of pairs, and the
edges and blocks between users, shared by every backend (see `hushan.store.sql`)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from hushan.clock import from_micros, to_micros
from hushan.domain.model import HistoryState, PairFacts, PairRelation, PairStatus, ordered
from hushan.domain.notices import NoticeGrade
from hushan.store.base import NO_LIMIT, ContactRow
from hushan.store.conversations_sql import CONVERSATION_COLUMNS, conversation_row, maybe_time

if TYPE_CHECKING:
    from hushan.store.sql import Connection

_FACTS_SQL = f"""
SELECT
  other.verification_required,
  EXISTS (SELECT 1 FROM edges WHERE owner_id = ?1 AND contact_id = ?2),
  EXISTS (SELECT 1 FROM edges WHERE owner_id = ?2 AND contact_id = ?1),
  EXISTS (SELECT 1 FROM blocks WHERE blocker_id = ?1 AND blocked_id = ?2),
  EXISTS (SELECT 1 FROM blocks WHERE blocker_id = ?2 AND blocked_id = ?1),
  actor.contact_count,
  other.contact_count,
  EXISTS (SELECT 1 FROM friend_requests WHERE from_id = ?1 AND to_id = ?2 AND status = 'pending')
    OR EXISTS (SELECT 1 FROM friend_requests
               WHERE from_id = ?2 AND to_id = ?1 AND status = 'pending'),
  actor.notice_grade,
  EXISTS (SELECT 1 FROM removals WHERE remover_id = ?1 AND removed_id = ?2),
  EXISTS (SELECT 1 FROM removals WHERE remover_id = ?2 AND removed_id = ?1),
  EXISTS (SELECT 1 FROM proposals WHERE proposer_id = ?1 AND other_id = ?2
          AND status = 'pending' AND remove_anyway AND NOT spent),
  EXISTS (SELECT 1 FROM devices WHERE user_id = ?1),
  EXISTS (SELECT 1 FROM devices WHERE user_id = ?2),
  c.{CONVERSATION_COLUMNS.replace(", ", ", c.")}
FROM (SELECT 1) AS one
LEFT JOIN users AS actor ON actor.id = ?1
LEFT JOIN users AS other ON other.id = ?2
LEFT JOIN conversations AS c ON c.id = (
  SELECT id FROM conversations WHERE user_lo = ?3 AND user_hi = ?4 ORDER BY id DESC LIMIT 1)
"""

# The pairs travel as bound VALUES rows: SQLite parses them for free, where json_each cost about
# twice the time (bench/). A batch is cut into power-of-two chunks so that at most eleven
# statement shapes ever reach the statement cache, with no padding rows to look up in vain.
_STATUSES_SQL = """
WITH pairs(n, a, b, lo, hi) AS (VALUES {rows})
SELECT
  p.n,
  EXISTS (SELECT 1 FROM edges WHERE owner_id = p.a AND contact_id = p.b),
  EXISTS (SELECT 1 FROM edges WHERE owner_id = p.b AND contact_id = p.a),
  EXISTS (SELECT 1 FROM blocks WHERE blocker_id = p.a AND blocked_id = p.b),
  EXISTS (SELECT 1 FROM blocks WHERE blocker_id = p.b AND blocked_id = p.a),
  c.state, c.purge_at, c.block_deleted
FROM pairs AS p
LEFT JOIN conversations AS c ON c.id = (
  SELECT id FROM conversations
  WHERE user_lo = p.lo AND user_hi = p.hi
  ORDER BY id DESC LIMIT 1)
"""


@functools.cache
def _statuses_sql(size: int) -> str:
    return _STATUSES_SQL.format(rows=", ".join(["(CAST(? AS INTEGER), ?, ?, ?, ?)"] * size))


# Five bound values per pair: 4,096 pairs are 20,480, inside SQLite's 32,766 per statement
# and PostgreSQL's 65,535, however high a deployment sets the batch limit.
MAX_CHUNK = 4096


def _power_of_two_chunks(count: int) -> Iterator[tuple[int, int]]:
    """(start, size) pieces of `count`, largest first, none above MAX_CHUNK:
    10 -> (0, 8), (8, 2)."""
    whole, rest = divmod(count, MAX_CHUNK)
    start = 0
    for _ in range(whole):
        yield start, MAX_CHUNK
        start += MAX_CHUNK
    for bit in reversed(range(rest.bit_length())):
        size = 1 << bit
        if rest & size:
            yield start, size
            start += size


class PairsSql:
    _c: Connection

    def pair_facts(self, actor: str, other: str) -> PairFacts:
        lo, hi = ordered(actor, other)
        row = self._c.execute(_FACTS_SQL, (actor, other, lo, hi)).fetchone()
        return PairFacts(
            other_exists=row[0] is not None,
            other_requires_verification=bool(row[0]),
            actor_has_other=bool(row[1]),
            other_has_actor=bool(row[2]),
            actor_blocks_other=bool(row[3]),
            other_blocks_actor=bool(row[4]),
            actor_contacts=row[5] or 0,
            other_contacts=row[6] or 0,
            requests_pending=bool(row[7]),
            conversation=None if row[14] is None else conversation_row(row[14:]),
            actor_notice_grade=NoticeGrade(row[8] or NoticeGrade.SILENT.value),
            actor_removed_other=bool(row[9]),
            other_removed_actor=bool(row[10]),
            actor_proposed_removal=bool(row[11]),
            actor_has_device=bool(row[12]),
            other_has_device=bool(row[13]),
        )

    def pair_statuses(self, pairs: Sequence[tuple[str, str]]) -> list[PairStatus]:
        found: dict[int, PairStatus] = {}
        for start, size in _power_of_two_chunks(len(pairs)):
            chunk = pairs[start : start + size]
            # Each pair's (lo, hi) is ordered here, not in SQL, where the order of strings
            # would be the database's collation, not the one the rows were stored by.
            args = [x for n, (a, b) in enumerate(chunk, start) for x in (n, a, b, *ordered(a, b))]
            for n, ab, ba, xab, xba, state, purge_at, block_deleted in self._c.execute(
                _statuses_sql(size), args
            ):
                # Placed by position: without an ORDER BY, SQLite owes us no row order.
                found[n] = PairStatus(
                    user_a=pairs[n][0],
                    user_b=pairs[n][1],
                    relation=PairRelation.of(bool(ab), bool(ba)),
                    a_blocks_b=bool(xab),
                    b_blocks_a=bool(xba),
                    history_state=None if state is None else HistoryState(state),
                    purge_at=maybe_time(purge_at),
                    block_deleted=bool(block_deleted),
                )
        return [found[n] for n in range(len(pairs))]

    # edges and blocks
    def add_edge(self, owner: str, contact: str, now: datetime) -> None:
        self._c.execute(
            "INSERT INTO edges (owner_id, contact_id, created_at) VALUES (?, ?, ?)",
            (owner, contact, to_micros(now)),
        )
        self._c.execute("UPDATE users SET contact_count = contact_count + 1 WHERE id = ?", (owner,))

    def remove_edge(self, owner: str, contact: str) -> bool:
        cur = self._c.execute(
            "DELETE FROM edges WHERE owner_id = ? AND contact_id = ?", (owner, contact)
        )
        if cur.rowcount != 1:
            return False
        self._c.execute("UPDATE users SET contact_count = contact_count - 1 WHERE id = ?", (owner,))
        return True

    def list_contacts(self, owner: str, after: str = "", limit: int = NO_LIMIT) -> list[ContactRow]:
        rows = self._c.execute(
            "SELECT e.contact_id, coalesce(u.display_name, ''), e.created_at FROM edges AS e"
            " LEFT JOIN users AS u ON u.id = e.contact_id"
            " WHERE e.owner_id = ? AND e.contact_id > ? ORDER BY e.contact_id LIMIT ?",
            (owner, after, limit),
        ).fetchall()
        return [ContactRow(r[0], r[1], from_micros(r[2])) for r in rows]

    def add_block(self, blocker: str, blocked: str, now: datetime) -> None:
        self._c.execute(
            "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, ?)",
            (blocker, blocked, to_micros(now)),
        )

    def remove_block(self, blocker: str, blocked: str) -> bool:
        cur = self._c.execute(
            "DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?", (blocker, blocked)
        )
        return cur.rowcount == 1

    def list_blocks(self, blocker: str, after: str = "", limit: int = NO_LIMIT) -> list[str]:
        rows = self._c.execute(
            "SELECT blocked_id FROM blocks WHERE blocker_id = ? AND blocked_id > ?"
            " ORDER BY blocked_id LIMIT ?",
            (blocker, after, limit),
        ).fetchall()
        return [r[0] for r in rows]
