"""The PostgreSQL store: psycopg 3, connections lent by a bounded pool
(`hushan.store.postgres_pool`), the shared SQL of `hushan.store.sql` with its `?` placeholders
turned into psycopg's.

A write transaction locks the users it changes (and the log, when it writes the log's
tables) with transaction-scoped advisory locks, all in one statement in one global order when
it starts: changes to one user run one at a time, so every rule that holds on SQLite holds
here, while changes to disjoint users run side by side in separate processes. Every writer
also holds one lock shared by all writers, which a bulk import takes exclusively. Audit
entries are numbered under one more lock taken just before commit and held through it, so
`seq` order is commit order and a reader that sees entry n has seen every entry before it (the
log integrator relies on that: it never passes over an entry still to commit). Reads run on a
REPEATABLE READ snapshot and never wait.

Erasure differs in one respect: PostgreSQL has no `secure_delete`. A destroyed data key's bytes
stay in dead tuples until VACUUM frees their space and later writes reuse it, and in WAL
segments until they are recycled; crypto-shredding is what makes the history unreadable at
once, as long as the deployment key is kept apart from the database and its backups.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any

import psycopg

from hushan.clock import to_micros
from hushan.domain.errors import Busy, DatabaseUnavailable
from hushan.domain.sync import NewChange
from hushan.store.audit_sql import AUDIT_COLUMNS, AUDIT_ROW
from hushan.store.base import DEFAULT_BUSY_TIMEOUT, Store, Tx
from hushan.store.citus_sql import CitusSql
from hushan.store.held import held
from hushan.store.postgres_pool import DEFAULT_POOL_SIZE, Connections
from hushan.store.sql import Cursor, SqlTx

SEQUENCE_LOCK = 0x68757368616E  # "hushan": held from numbering audit entries to commit
LOG_LOCK = 0x68757368_6C6F67  # "hush" "log": held by whatever writes the log's tables


def lock_key(user_id: str) -> int:
    """The advisory lock key of a user: 64 bits of a keyed hash, so a collision (which would
    only make two users' changes wait for each other) is vanishingly rare."""
    digest = hashlib.blake2b(user_id.encode(), digest_size=8, person=b"hushan.user").digest()
    return int.from_bytes(digest, "big", signed=True)


_CHANGE_COLUMNS = "user_id, n, kind, other_id, conversation_id, message_id, detail, created_at"
_CHANGE_ROW = (
    "(CAST(? AS VARCHAR), CAST(? AS INTEGER), CAST(? AS VARCHAR), CAST(? AS VARCHAR),"
    " CAST(? AS INTEGER), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT))"
)
CHANGES_CHANNEL = "hushan_changes"  # NOTIFY channel: a user's sync feed has new changes
WRITERS_LOCK = 0x68757368_77726974  # "hush" "writ": shared by every writer, exclusive in bulk


@functools.cache
def _lock_statement(count: int) -> str:
    # A select list is evaluated left to right: the locks are taken in the order given, the
    # writers' shared lock first, so no writer holds a user's lock while it waits for a bulk
    # import to end (which would let the import and writers wait on each other).
    return "SELECT " + ", ".join(
        ["pg_advisory_xact_lock_shared(%s)", *["pg_advisory_xact_lock(%s)"] * count]
    )


_NUMBERED = re.compile(r"\?(\d+)")


@functools.cache
def _translate(sql: str) -> tuple[str, bool]:
    """psycopg's form of a `?` statement, and whether it takes named (numbered) parameters."""
    escaped = sql.replace("%", "%%")
    if _NUMBERED.search(escaped):
        return _NUMBERED.sub(lambda m: f"%(p{m.group(1)})s", escaped), True
    return escaped.replace("?", "%s"), False


def _arguments(numbered: bool, parameters: Sequence[Any]) -> Sequence[Any] | dict[str, Any]:
    if numbered:
        return {f"p{n}": value for n, value in enumerate(parameters, 1)}
    return parameters


def _take_sequence_lock(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (SEQUENCE_LOCK,))


class _Connection:
    """The `Connection` that `SqlTx` expects, over a psycopg connection."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        text, numbered = _translate(sql)
        return self.raw.execute(text, _arguments(numbered, parameters))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]], /) -> None:
        text, numbered = _translate(sql)
        if rows:
            with self.raw.cursor() as cursor:
                cursor.executemany(text, [_arguments(numbered, r) for r in rows])


_READ_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
_RELATIONSHIP_TABLES = (
    "users",
    "edges",
    "blocks",
    "friend_requests",
    "conversations",
    "conversation_keys",
)


class _PostgresTx(SqlTx):
    def _insert_audit(self, rows: list[tuple[Any, ...]]) -> None:
        """The sequence lock and the insert in one round trip: the lock's row must exist
        before any row reaches the insert, so `seq` is drawn under it."""
        values = ", ".join([AUDIT_ROW] * len(rows))
        self._c.execute(
            f"INSERT INTO audit_log ({AUDIT_COLUMNS}) SELECT v.* FROM"
            f" (SELECT pg_advisory_xact_lock({SEQUENCE_LOCK})) AS locked,"
            f" (VALUES {values}) AS v ({AUDIT_COLUMNS})",
            [value for row in rows for value in row],
        )
        self._before_sequencing = lambda: None  # taken

    def add_changes(self, changes: Sequence[NewChange], now: datetime) -> None:
        """One statement: the rows (numbered from each user's head, in the order given) and a
        NOTIFY for each user who got one, delivered at commit to every waiting process."""
        at, ordinal, rows = to_micros(now), Counter[str](), []
        for c in changes:
            ordinal[c.user] += 1
            rows.append(
                (c.user, ordinal[c.user], c.kind.value, c.other, c.conversation_id)
                + (c.message_id, c.detail, at)
            )
        values = ", ".join([_CHANGE_ROW] * len(rows))
        self._c.execute(
            f"WITH v ({_CHANGE_COLUMNS}) AS (VALUES {values}),"
            " ins AS (INSERT INTO changes (user_id, seq, kind, other_id, conversation_id,"
            " message_id, detail, created_at) SELECT v.user_id, v.n + COALESCE((SELECT"
            " MAX(c.seq) FROM changes c WHERE c.user_id = v.user_id), 0), v.kind, v.other_id,"
            " v.conversation_id, v.message_id, v.detail, v.created_at FROM v WHERE EXISTS"
            " (SELECT 1 FROM devices d WHERE d.user_id = v.user_id) RETURNING user_id)"
            f" SELECT pg_notify('{CHANGES_CHANNEL}', u) FROM (SELECT DISTINCT user_id AS u"
            " FROM ins) AS notified",
            [value for row in rows for value in row],
        )

    def lock(self, statement: str, params: Sequence[Any]) -> None:
        """Take further advisory locks: a write joining a held transaction (store.held)."""
        assert isinstance(self._c, _Connection)
        self._c.raw.execute(statement, params)

    def select(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows of a statement of the store's own (the table dumps)."""
        return list(self._c.execute(sql).fetchall())

    def _insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """COPY: an order of magnitude faster than INSERTs for a bulk load."""
        assert isinstance(self._c, _Connection)
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with self._c.raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


class _CitusTx(CitusSql, _PostgresTx):
    """On a Citus coordinator: the statements a cluster plans differently (`citus_sql`)."""

    _changes_channel = CHANGES_CHANNEL


def _distributed(conn: psycopg.Connection[Any]) -> bool:
    """Whether hushan's users table is distributed by Citus here (read in the transaction
    about to start, which is left open)."""
    catalog = conn.execute("SELECT to_regclass('pg_catalog.pg_dist_partition')").fetchone()
    if catalog is None or catalog[0] is None:
        return False
    row = conn.execute(
        "SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('users')"
        " AND partmethod = 'h'"
    ).fetchone()
    return row is not None


class PostgresStore(Store):
    """`busy_timeout`: how long a write waits for a lock (a user's, or the log's) before it
    gives up with `Busy` (PostgreSQL's `lock_timeout`; docs/architecture.md), and how long a
    transaction waits for a connection from the pool. `pool_size`: the most connections the
    store holds at once (`HUSHAN_DATABASE_POOL_SIZE`). `citus`: whether the database is a Citus
    coordinator's with hushan's tables distributed; None (the default) asks the database at
    the first transaction, so a process on a distributed schema never runs the single-server
    statements there, whatever its settings say.

    On Citus every statement goes through the coordinator, and so do the advisory locks: they
    are the coordinator's, which is what every writer shares. The coordinator commits a
    transaction that wrote on more than one node (the audit log is one, on the coordinator)
    with two-phase commit, and sends the workers their COMMIT PREPARED before it releases its
    locks, so the next writer of a user sees the last one's rows on every node."""

    def __init__(
        self,
        url: str,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        pool_size: int = DEFAULT_POOL_SIZE,
        citus: bool | None = None,
    ) -> None:
        self.url = url
        self.citus = citus
        self.busy_timeout = busy_timeout
        self.connections = Connections(url, pool_size, busy_timeout, self._configure)
        self._pinned = threading.local()  # a connection this thread keeps (`pinned`)

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        """Each new connection, before it is first lent."""
        milliseconds = f"{int(self.busy_timeout * 1000)}ms"
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (milliseconds,))
        conn.commit()

    @contextmanager
    def pinned(self) -> Iterator[None]:
        with self.connections.borrowed() as conn:
            self._pinned.conn = conn
            try:
                yield
            finally:
                self._pinned.conn = None

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """The thread's pinned connection, or one borrowed for this transaction."""
        pinned: psycopg.Connection[Any] | None = getattr(self._pinned, "conn", None)
        if pinned is not None:
            yield pinned
            return
        with self.connections.borrowed() as conn:
            yield conn

    @contextmanager
    def _transaction(
        self, first: str | None, params: Sequence[Any], pipelined: bool = False
    ) -> Iterator[_PostgresTx]:
        """`pipelined`: the statements are sent without waiting for each one's answer; the
        client waits only where rows are read, and at the commit. An error is raised there, and
        rolls the whole transaction back all the same. A statement's `rowcount` is unknown
        until an answer is read: a pipelined write reads what it changed (RETURNING)."""
        with self._connection() as conn, conn.pipeline() if pipelined else nullcontext():
            try:
                if first is not None:
                    conn.execute(first, params)
                if self.citus is None:
                    self.citus = _distributed(conn)
                kind = _CitusTx if self.citus else _PostgresTx
                tx = kind(_Connection(conn), lambda: _take_sequence_lock(conn))
                yield tx
                tx.flush_audit()
                conn.commit()
            except BaseException as error:
                # A connection broken here is replaced by the pool when it is given back.
                with contextlib.suppress(psycopg.OperationalError):
                    conn.rollback()
                if isinstance(error, psycopg.errors.LockNotAvailable):
                    raise Busy() from error
                if isinstance(error, psycopg.OperationalError):
                    raise DatabaseUnavailable() from error
                raise

    def write(self, *users: str, log: bool = False) -> AbstractContextManager[Tx]:
        keys = sorted({lock_key(u) for u in users} | ({LOG_LOCK} if log else set()))
        statement, params = _lock_statement(len(keys)), [WRITERS_LOCK, *keys]

        def join(tx: Tx) -> None:
            assert isinstance(tx, _PostgresTx)
            tx.lock(statement, params)

        return held(self._transaction(statement, params), join)

    def write_unsynced(self) -> AbstractContextManager[Tx]:
        # The writers' shared lock, as every write takes it, and no wait for the disk.
        unsynced = (
            "SELECT pg_advisory_xact_lock_shared(%s), set_config('synchronous_commit', 'off', true)"
        )
        return held(self._transaction(unsynced, [WRITERS_LOCK], pipelined=True))

    def bulk_write(self) -> AbstractContextManager[Tx]:
        # Waits for every writer in flight, then holds every new one off; reads go on.
        return self._transaction("SELECT pg_advisory_xact_lock(%s)", [WRITERS_LOCK])

    def scratch(self) -> AbstractContextManager[Tx]:
        return self._transaction(None, ())

    def after_bulk_load(self) -> None:
        # VACUUM too: it marks the new pages all-visible, which index-only scans need, and
        # does now what autovacuum would otherwise do in the middle of the traffic that follows.
        with psycopg.connect(self.url, autocommit=True) as conn:
            tables = [*_RELATIONSHIP_TABLES, "audit_log", "outbox", "webhook_deliveries"]
            conn.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")

    def read(self) -> AbstractContextManager[Tx]:
        return held(self._transaction(_READ_SNAPSHOT, ()), write=False)

    def watch_changes(self, stop: threading.Event) -> Iterator[set[str]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANGES_CHANNEL}")
            yield set()  # listening from here on
            while not stop.is_set():
                # Back at the first notification, or after a while to look at `stop`.
                yield {n.payload for n in conn.notifies(timeout=0.5, stop_after=1)}

    def flush_freed_pages(self) -> None:
        """VACUUM the tables a purge deletes from, so their freed space is reused (above)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("VACUUM conversation_keys, messages")

    def close(self) -> None:
        self.connections.close()

    def table_names(self) -> list[str]:
        with self._transaction(_READ_SNAPSHOT, ()) as tx:
            rows = tx.select(
                "SELECT table_name FROM information_schema.tables WHERE table_schema ="
                " current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
            )
        return [r[0] for r in rows]

    def dump_rows(self, table: str) -> Iterator[tuple[Any, ...]]:
        if table not in self.table_names():
            raise ValueError(f"No table {table!r}.")
        with self._transaction(_READ_SNAPSHOT, ()) as tx:
            rows = tx.select(f'SELECT * FROM "{table}"')
        yield from rows
