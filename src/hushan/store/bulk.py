"""The SQL of a bulk import (`hushan.importer`), shared by every backend like `hushan.store.sql`.

Lines are staged in a temporary table, then applied as a few set-wise statements: a graph of
ten million edges is loaded in minutes, where one service call per edge would take hours.
Pair order (`lo`, `hi`) is worked out in Python, as everywhere else, so no comparison of ids
depends on a database collation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import to_micros
from hushan.domain.model import ordered
from hushan.store.base import ImportCounts, StagedEdge

if TYPE_CHECKING:
    from hushan.store.sql import Connection

InsertRows = Callable[[str, Sequence[str], Sequence[Sequence[Any]]], None]

# The tables that hold something of a pair, and their two users' columns.
PAIR_TABLES = (
    ("edges", "owner_id", "contact_id"),
    ("blocks", "blocker_id", "blocked_id"),
    ("friend_requests", "from_id", "to_id"),
    ("conversations", "user_lo", "user_hi"),
)
_EITHER_WAY = "(x.{0} = p.lo AND x.{1} = p.hi) OR (x.{0} = p.hi AND x.{1} = p.lo)"
_HOLDS_PAIR = " OR ".join(
    f"EXISTS (SELECT 1 FROM {table} x WHERE {_EITHER_WAY.format(a, b)})"
    for table, a, b in PAIR_TABLES
)

# Per pair, in this order: the low side's edge, the high side's, the conversation's start:
# the entries `hushan.tlog.entries.replay` reads back to the imported state.
_AUDIT_SQL = """
INSERT INTO audit_log (at, actor, action, user_a, user_b, relation, history_state, detail)
SELECT at, actor, action, a, b, relation, history, detail FROM (
  SELECT p.line, 1 AS step, ?1 AS at, p.lo AS actor, 'edge_added' AS action, p.lo AS a,
         p.hi AS b, 'a_has_b' AS relation, CAST(NULL AS VARCHAR(16)) AS history,
         p.lo || '->' || p.hi || ' imported' AS detail
    FROM import_pairs p WHERE p.lo_has_hi = 1
  UNION ALL
  SELECT p.line, 2, ?1, p.hi, 'edge_added', p.hi, p.lo,
         CASE WHEN p.lo_has_hi = 1 THEN 'both_way' ELSE 'a_has_b' END, NULL,
         p.hi || '->' || p.lo || ' imported'
    FROM import_pairs p WHERE p.hi_has_lo = 1
  UNION ALL
  SELECT p.line, 3, ?1, p.lo, 'history_started', p.lo, p.hi,
         CASE WHEN p.lo_has_hi = 1 AND p.hi_has_lo = 1 THEN 'both_way'
              WHEN p.lo_has_hi = 1 THEN 'a_has_b' ELSE 'b_has_a' END,
         'active', 'conversation=' || CAST(c.id AS VARCHAR(20))
    FROM import_pairs p JOIN import_conversations c ON c.lo = p.lo AND c.hi = p.hi
) s ORDER BY line, step
"""


class BulkImportSql:
    """Mixed into `SqlTx`: the import's statements over its connection. The four statements
    that join a staging table with the stored ones are attributes, which a backend that
    plans such joins differently replaces (`hushan.store.citus_sql`)."""

    _c: Connection
    _insert_rows: InsertRows
    _sequence: Callable[[], None]
    _emit_events: Callable[[int], None]  # see `OutboxSql`

    _taken_pair_sql = (
        f"SELECT p.line, p.lo, p.hi FROM import_pairs p WHERE {_HOLDS_PAIR} ORDER BY p.line LIMIT 1"
    )
    _add_counts_sql = (
        "UPDATE users SET contact_count = users.contact_count + c.n"
        " FROM import_counts c WHERE users.id = c.owner_id"
    )
    _imported_conversations_sql = (
        "CREATE TEMPORARY TABLE import_conversations AS SELECT c.id AS id, p.lo AS lo,"
        " p.hi AS hi FROM import_pairs p JOIN conversations c"
        " ON c.user_lo = p.lo AND c.user_hi = p.hi AND c.state = 'active'"
    )
    _over_limit_sql = (
        "SELECT u.id, u.contact_count FROM import_counts c JOIN users u ON u.id = c.owner_id"
        " WHERE u.contact_count > ? ORDER BY u.id LIMIT 1"
    )

    def stage_import(self, edges: Sequence[StagedEdge]) -> None:
        self._c.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS import_edges (line BIGINT NOT NULL,"
            " owner_id VARCHAR(64) NOT NULL, contact_id VARCHAR(64) NOT NULL,"
            " lo VARCHAR(64) NOT NULL, hi VARCHAR(64) NOT NULL)"
        )
        self._insert_rows(
            "import_edges",
            ("line", "owner_id", "contact_id", "lo", "hi"),
            [(e.line, e.owner, e.contact, *ordered(e.owner, e.contact)) for e in edges],
        )

    def taken_import_pair(self) -> StagedEdge | None:
        self._c.execute(
            "CREATE TEMPORARY TABLE import_pairs AS"
            " SELECT lo, hi, MIN(line) AS line,"
            " MAX(CASE WHEN owner_id = lo THEN 1 ELSE 0 END) AS lo_has_hi,"
            " MAX(CASE WHEN owner_id = hi THEN 1 ELSE 0 END) AS hi_has_lo"
            " FROM import_edges GROUP BY lo, hi"
        )
        # Temporary tables get no statistics: with these keys the planner joins through them.
        self._c.execute("CREATE UNIQUE INDEX import_pairs_key ON import_pairs (lo, hi)")
        row = self._c.execute(self._taken_pair_sql).fetchone()
        return None if row is None else StagedEdge(int(row[0]), row[1], row[2])

    def apply_import(self, now: datetime, verification_required: bool) -> ImportCounts:
        at = to_micros(now)
        users = self._c.execute(
            "INSERT INTO users (id, display_name, verification_required, created_at)"
            " SELECT u, u, ?, ? FROM (SELECT lo AS u FROM import_pairs"
            " UNION SELECT hi FROM import_pairs) s WHERE TRUE ON CONFLICT (id) DO NOTHING",
            (verification_required, at),
        ).rowcount
        edges = self._c.execute(
            "INSERT INTO edges (owner_id, contact_id, created_at)"
            " SELECT lo, hi, ?1 FROM import_pairs WHERE lo_has_hi = 1"
            " UNION ALL SELECT hi, lo, ?1 FROM import_pairs WHERE hi_has_lo = 1",
            (at,),
        ).rowcount
        self._c.execute(
            "CREATE TEMPORARY TABLE import_counts AS SELECT owner_id, COUNT(*) AS n FROM"
            " (SELECT lo AS owner_id FROM import_pairs WHERE lo_has_hi = 1"
            " UNION ALL SELECT hi FROM import_pairs WHERE hi_has_lo = 1) s GROUP BY owner_id"
        )
        self._c.execute("CREATE UNIQUE INDEX import_counts_key ON import_counts (owner_id)")
        self._c.execute(self._add_counts_sql)
        pairs = self._c.execute(
            "INSERT INTO conversations (user_lo, user_hi, state, block_deleted, created_at)"
            " SELECT lo, hi, 'active', FALSE, ? FROM import_pairs ORDER BY line",
            (at,),
        ).rowcount
        self._c.execute(self._imported_conversations_sql)
        self._c.execute("CREATE UNIQUE INDEX import_conversations_key ON import_conversations (id)")
        return ImportCounts(users=users, edges=edges, pairs=pairs, audit_entries=0)

    def audit_import(self, now: datetime, events: bool) -> int:
        self._sequence()
        count = int(self._c.execute(_AUDIT_SQL, (to_micros(now),)).rowcount)
        if events and count:  # the newest entries are this import's: numbered under the lock
            self._emit_events(count)
        return count

    def import_over_limit(self, max_friends: int) -> tuple[str, int] | None:
        row = self._c.execute(self._over_limit_sql, (max_friends,)).fetchone()
        return None if row is None else (row[0], int(row[1]))

    def imported_conversations(self, after_id: int, limit: int) -> list[tuple[int, str]]:
        rows = self._c.execute(
            "SELECT id, lo FROM import_conversations WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    def insert_keys(self, keys: Sequence[tuple[int, str, bytes]]) -> None:
        self._insert_rows("conversation_keys", ("conversation_id", "user_lo", "wrapped_key"), keys)

    def end_import(self) -> None:
        for table in ("import_conversations", "import_counts", "import_pairs", "import_edges"):
            self._c.execute(f"DROP TABLE IF EXISTS {table}")
