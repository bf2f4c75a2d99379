"""The PostgreSQL store: psycopg 3, one connection per thread, the shared SQL of
`hushan.store.sql` with its `?` placeholders turned into psycopg's.

Writers take one transaction-scoped advisory lock before anything else, so write transactions
run one at a time, exactly as on SQLite: every rule that holds there holds here by
construction, across threads and processes alike. Reads run on a REPEATABLE READ snapshot and
never wait. (Finer locks, for write throughput across processes, are the scale-out step that
comes next.)

Erasure differs in one respect: PostgreSQL has no `secure_delete`. A destroyed data key's bytes
stay in dead tuples until VACUUM frees their space and later writes reuse it, and in WAL
segments until they are recycled; crypto-shredding is what makes the history unreadable at
once, as long as the deployment key is kept apart from the database and its backups.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg

from hushan.store.base import Store, Tx
from hushan.store.connections import PerThread
from hushan.store.sql import Cursor, SqlTx

WRITE_LOCK = 0x68757368616E  # "hushan": the advisory lock every write transaction holds
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


class _Connection:
    """The `Connection` that `SqlTx` expects, over a psycopg connection."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        text, numbered = _translate(sql)
        return self._conn.execute(text, _arguments(numbered, parameters))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]], /) -> None:
        text, numbered = _translate(sql)
        if rows:
            with self._conn.cursor() as cursor:
                cursor.executemany(text, [_arguments(numbered, r) for r in rows])


class PostgresStore(Store):
    def __init__(self, url: str) -> None:
        self.url = url
        self._connections: PerThread[psycopg.Connection[Any]] = PerThread(
            lambda: psycopg.connect(self.url, autocommit=False),
            usable=lambda conn: not conn.closed,  # a connection the server dropped is replaced
        )

    def _conn(self) -> psycopg.Connection[Any]:
        return self._connections.get()

    @contextmanager
    def _transaction(self, first: str, params: Sequence[Any]) -> Iterator[Tx]:
        conn = self._conn()
        try:
            conn.execute(first, params)
            yield SqlTx(_Connection(conn))
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    def write(self) -> AbstractContextManager[Tx]:
        return self._transaction("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))

    def read(self) -> AbstractContextManager[Tx]:
        return self._transaction("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", ())

    def flush_freed_pages(self) -> None:
        """VACUUM the tables a purge deletes from, so their freed space is reused (above)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("VACUUM conversation_keys, messages")

    def close(self) -> None:
        self._connections.close()

    def table_names(self) -> list[str]:
        with self.read() as _:
            rows = (
                self._conn()
                .execute(
                    "SELECT table_name FROM information_schema.tables"
                    " WHERE table_schema = current_schema() ORDER BY table_name"
                )
                .fetchall()
            )
        return [r[0] for r in rows]

    def dump_rows(self, table: str) -> Iterator[tuple[Any, ...]]:
        if table not in self.table_names():
            raise ValueError(f"No table {table!r}.")
        with self.read() as _:
            rows = self._conn().execute(f'SELECT * FROM "{table}"').fetchall()
        yield from rows
