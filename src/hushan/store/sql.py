"""One transaction's SQL, written once for every backend.

The statements are plain SQL that SQLite and PostgreSQL both run; each backend hands `SqlTx` a
connection whose `execute` and `executemany` take `?` placeholders (`?1`, `?2` where a value
is used twice), and adapts them if its driver wants another style. The schema itself is made
only by the Alembic migrations.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from hushan.clock import from_micros, to_micros
from hushan.domain.model import (
    AuditAction,
    AuditEntry,
    Conversation,
    FriendRequest,
    HistoryState,
    PairFacts,
    PairRelation,
    PairStatus,
    RequestStatus,
    User,
    ordered,
)
from hushan.domain.notices import NoticeGrade
from hushan.store.base import (
    ChatRow,
    ContactRow,
    LogLeaf,
    StoredCheckpoint,
    StoredMessage,
    Tx,
)
from hushan.store.bulk import BulkImportSql
from hushan.store.erasure_sql import ErasureSql
from hushan.store.groups_sql import GroupsSql
from hushan.store.health_sql import HealthSql
from hushan.store.notices_sql import NoticesSql
from hushan.store.posts_sql import PostsSql
from hushan.store.proposals_sql import ProposalsSql
from hushan.store.sync_sql import SyncSql


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What `SqlTx` needs of a DB-API connection, with `?` placeholders."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


_CONVERSATION_COLUMNS = (
    "id, user_lo, user_hi, state, purge_at, block_deleted, created_at, key_destroyed_at,"
    " rows_purged_at"
)

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
  c.{_CONVERSATION_COLUMNS.replace(", ", ", c.")}
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


_LEAF_COLUMNS = "idx, seq, user_lo, user_hi, pair_n, entry, hash"
_CHECKPOINT_COLUMNS = "size, root, note, published_at"
_REQUEST_COLUMNS = "id, from_id, to_id, message, status, created_at, expires_at, swallowed"


_AUDIT_READ = "seq, at, actor, action, user_a, user_b, relation, history_state, detail"


def _audit_entry(r: Sequence[Any]) -> AuditEntry:
    return AuditEntry(
        seq=r[0],
        at=from_micros(r[1]),
        actor=r[2],
        action=AuditAction(r[3]),
        user_a=r[4],
        user_b=r[5],
        relation=PairRelation(r[6]),
        history_state=None if r[7] is None else HistoryState(r[7]),
        detail=r[8],
    )


def _maybe_time(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def _conversation(row: Sequence[Any]) -> Conversation:
    return Conversation(
        id=int(row[0]),
        user_lo=str(row[1]),
        user_hi=str(row[2]),
        state=HistoryState(row[3]),
        purge_at=_maybe_time(row[4]),
        block_deleted=bool(row[5]),
        created_at=from_micros(row[6]),
        key_destroyed_at=_maybe_time(row[7]),
        rows_purged_at=_maybe_time(row[8]),
    )


def _leaf(row: Sequence[Any]) -> LogLeaf:
    return LogLeaf(row[0], row[1], row[2], row[3], row[4], row[5], bytes(row[6]))


def _checkpoint(row: Sequence[Any]) -> StoredCheckpoint:
    return StoredCheckpoint(int(row[0]), bytes(row[1]), str(row[2]), from_micros(row[3]))


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


AUDIT_COLUMNS = "at, actor, action, user_a, user_b, relation, history_state, detail"
AUDIT_ROW = "(?, ?, ?, ?, ?, ?, ?, ?)"


def _nothing() -> None:
    pass


class SqlTx(
    BulkImportSql, NoticesSql, ProposalsSql, PostsSql, GroupsSql, SyncSql, ErasureSql, HealthSql, Tx
):
    """`before_sequencing` runs once, right before the transaction's audit entries are
    numbered: a backend whose writers run side by side takes the lock there that keeps the
    numbering in commit order (see `PostgresStore`)."""

    def __init__(self, conn: Connection, before_sequencing: Callable[[], None] = _nothing) -> None:
        self._c = conn
        self._before_sequencing = before_sequencing
        self._audit: list[tuple[Any, ...]] = []

    def _sequence(self) -> None:
        """Called before audit entries are numbered (see the class)."""
        self._before_sequencing()
        self._before_sequencing = _nothing

    def _insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Many rows at once; a backend with a faster bulk path (COPY) overrides this."""
        marks = ", ".join("?" * len(columns))
        self._c.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def flush_audit(self) -> None:
        """Number and store the audit entries appended so far; the store calls this just
        before it commits, so an entry's `seq` is taken as late as it can be."""
        if self._audit:
            self._insert_audit(self._audit)
            self._audit = []

    def _insert_audit(self, rows: list[tuple[Any, ...]]) -> None:
        self._sequence()
        self._c.executemany(f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES {AUDIT_ROW}", rows)

    # users and tokens
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

    # the pair
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
            conversation=None if row[14] is None else _conversation(row[14:]),
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
                    purge_at=_maybe_time(purge_at),
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

    def list_contacts(self, owner: str) -> list[ContactRow]:
        rows = self._c.execute(
            "SELECT e.contact_id, coalesce(u.display_name, ''), e.created_at FROM edges AS e"
            " LEFT JOIN users AS u ON u.id = e.contact_id"
            " WHERE e.owner_id = ? ORDER BY e.contact_id",
            (owner,),
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

    def list_blocks(self, blocker: str) -> list[str]:
        rows = self._c.execute(
            "SELECT blocked_id FROM blocks WHERE blocker_id = ? ORDER BY blocked_id", (blocker,)
        ).fetchall()
        return [r[0] for r in rows]

    # friend requests
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

    def list_incoming(self, to_id: str, now: datetime) -> list[FriendRequest]:
        rows = self._c.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM friend_requests AS r WHERE to_id = ?1"
            " AND status = 'pending' AND NOT swallowed AND expires_at > ?2"
            " AND NOT EXISTS"
            " (SELECT 1 FROM blocks WHERE blocker_id = ?1 AND blocked_id = r.from_id)"
            " ORDER BY id",
            (to_id, to_micros(now)),
        ).fetchall()
        return [_request(r) for r in rows]

    def list_outgoing(self, from_id: str, now: datetime) -> list[FriendRequest]:
        rows = self._c.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM friend_requests AS r WHERE from_id = ?1"
            " AND status = 'pending' AND expires_at > ?2"
            " AND NOT EXISTS"
            " (SELECT 1 FROM edges WHERE owner_id = ?1 AND contact_id = r.to_id)"
            " ORDER BY id",
            (from_id, to_micros(now)),
        ).fetchall()
        return [_request(r) for r in rows]

    def due_requests(self, now: datetime, limit: int) -> list[FriendRequest]:
        rows = self._c.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM friend_requests"
            " WHERE status = 'pending' AND expires_at <= ? ORDER BY id LIMIT ?",
            (to_micros(now), limit),
        ).fetchall()
        return [_request(r) for r in rows]

    # conversations, keys and messages
    def insert_conversation(self, user_lo: str, user_hi: str, now: datetime) -> int:
        row = self._c.execute(
            "INSERT INTO conversations (user_lo, user_hi, state, block_deleted, created_at)"
            " VALUES (?, ?, 'active', FALSE, ?) RETURNING id",
            (user_lo, user_hi, to_micros(now)),
        ).fetchone()
        return int(row[0])

    def insert_key(self, conversation_id: int, wrapped_key: bytes) -> None:
        self._c.execute(
            "INSERT INTO conversation_keys (conversation_id, wrapped_key) VALUES (?, ?)",
            (conversation_id, wrapped_key),
        )

    def wrapped_key(self, conversation_id: int) -> bytes | None:
        row = self._c.execute(
            "SELECT wrapped_key FROM conversation_keys WHERE conversation_id = ?",
            (conversation_id,),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def set_history(self, conversation_id: int, state: str, purge_at: datetime | None) -> None:
        self._c.execute(
            "UPDATE conversations SET state = ?, purge_at = ? WHERE id = ?",
            (state, None if purge_at is None else to_micros(purge_at), conversation_id),
        )

    def destroy_key(self, conversation_id: int, now: datetime, block_deleted: bool) -> None:
        self._c.execute(
            "DELETE FROM conversation_keys WHERE conversation_id = ?", (conversation_id,)
        )
        self._c.execute(
            "UPDATE conversations SET state = 'purged', key_destroyed_at = ?,"
            " block_deleted = (block_deleted OR ?) WHERE id = ?",
            (to_micros(now), block_deleted, conversation_id),
        )

    def due_for_purge(self, now: datetime, limit: int) -> list[Conversation]:
        rows = self._c.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations"
            " WHERE state = 'buffered' AND purge_at <= ? ORDER BY purge_at LIMIT ?",
            (to_micros(now), limit),
        ).fetchall()
        return [_conversation(r) for r in rows]

    def purged_with_rows(self, limit: int) -> list[Conversation]:
        rows = self._c.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations"
            " WHERE state = 'purged' AND rows_purged_at IS NULL ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [_conversation(r) for r in rows]

    def delete_messages(self, conversation_id: int, limit: int) -> int:
        cur = self._c.execute(
            "DELETE FROM messages WHERE id IN"
            " (SELECT id FROM messages WHERE conversation_id = ? ORDER BY id LIMIT ?)",
            (conversation_id, limit),
        )
        return cur.rowcount

    def mark_rows_purged(self, conversation_id: int, now: datetime) -> bool:
        cur = self._c.execute(
            "UPDATE conversations SET rows_purged_at = ? WHERE id = ? AND rows_purged_at IS NULL",
            (to_micros(now), conversation_id),
        )
        return cur.rowcount == 1

    def insert_message(
        self, conversation_id: int, sender_id: str, sealed: bytes, now: datetime
    ) -> int:
        row = self._c.execute(
            "INSERT INTO messages (conversation_id, sender_id, body, created_at)"
            " VALUES (?, ?, ?, ?) RETURNING id",
            (conversation_id, sender_id, sealed, to_micros(now)),
        ).fetchone()
        return int(row[0])

    def user_conversations(self, user_id: str) -> list[Conversation]:
        rows = self._c.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE user_lo = ?1"
            f" UNION ALL SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE user_hi = ?1"
            " ORDER BY 1",
            (user_id,),
        ).fetchall()
        return [_conversation(r) for r in rows]

    def pair_conversations(self, a: str, b: str) -> list[Conversation]:
        lo, hi = ordered(a, b)
        rows = self._c.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations"
            " WHERE user_lo = ? AND user_hi = ? ORDER BY id",
            (lo, hi),
        ).fetchall()
        return [_conversation(r) for r in rows]

    def list_messages(self, conversation_id: int, after_id: int, limit: int) -> list[StoredMessage]:
        rows = self._c.execute(
            "SELECT id, sender_id, body, created_at FROM messages"
            " WHERE conversation_id = ? AND id > ? ORDER BY id LIMIT ?",
            (conversation_id, after_id, limit),
        ).fetchall()
        return [StoredMessage(r[0], r[1], bytes(r[2]), from_micros(r[3])) for r in rows]

    def chat_list(self, user_id: str) -> list[ChatRow]:
        rows = self._c.execute(
            "SELECT CASE WHEN c.user_lo = ?1 THEN c.user_hi ELSE c.user_lo END, c.id,"
            " (SELECT max(created_at) FROM messages WHERE conversation_id = c.id)"
            " FROM conversations AS c"
            " WHERE (c.user_lo = ?1 OR c.user_hi = ?1) AND c.state = 'active'"
            " ORDER BY 1",
            (user_id,),
        ).fetchall()
        return [ChatRow(r[0], r[1], _maybe_time(r[2])) for r in rows]

    # audit
    def append_audit(self, entry: AuditEntry) -> None:
        self._audit.append(
            (
                to_micros(entry.at),
                entry.actor,
                entry.action.value,
                entry.user_a,
                entry.user_b,
                entry.relation.value,
                None if entry.history_state is None else entry.history_state.value,
                entry.detail,
            )
        )

    def audit_entries(self, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        self.flush_audit()  # this transaction's own entries included
        rows = self._c.execute(
            f"SELECT {_AUDIT_READ} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        return [_audit_entry(r) for r in rows]

    def audit_entries_of(self, user_id: str) -> list[AuditEntry]:
        self.flush_audit()
        rows = self._c.execute(
            f"SELECT {_AUDIT_READ} FROM audit_log WHERE actor = ?1 OR user_a = ?1 OR user_b = ?1"
            " ORDER BY seq",
            (user_id,),
        ).fetchall()
        return [_audit_entry(r) for r in rows]

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
