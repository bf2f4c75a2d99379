"""The SQLite store: one file in WAL mode, one connection per thread, plain DB-API SQL.

Why raw `sqlite3` rather than an SQL toolkit here: each relationship change is a handful of
primary-key statements, and per-statement overhead decides throughput (see bench/). The SQL
itself is shared with the other backends (`hushan.store.sql`).

`secure_delete` makes SQLite overwrite the bytes of deleted rows, so a destroyed data key does
not linger in free pages; `flush_freed_pages` checkpoints the WAL so its old frames go too.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from hushan.domain.errors import Busy
from hushan.store.base import DEFAULT_BUSY_TIMEOUT, Store, Tx
from hushan.store.connections import PerThread
from hushan.store.held import held
from hushan.store.sql import SqlTx

# How often a process looks for changes other processes made (the sync feed's long-polls): one
# indexed query per interval, whatever the number of waiting clients.
WATCH_INTERVAL_SECONDS = 0.1

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA secure_delete=ON",
    "PRAGMA foreign_keys=OFF",
)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    primary = getattr(error, "sqlite_errorcode", 0) & 0xFF  # extended codes carry it low
    return primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def make_private(path: Path) -> None:
    """The database file, created 0600 if it is new, like the key files; one made readable by
    others elsewhere (a copy, an older hushan) is made private. SQLite creates the -wal and
    -shm files with the database file's mode, so they follow; ones that exist are fixed too."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        companion = Path(f"{path}{suffix}")
        with contextlib.suppress(FileNotFoundError):
            if stat.S_IMODE(companion.stat().st_mode) & 0o077:
                companion.chmod(0o600)


class SqliteStore(Store):
    """`busy_timeout`: how long a write waits for its turn, first behind this process's other
    writers (in arrival order, on a lock), then behind another process's (SQLite's busy
    handler), before it gives up with `Busy` (docs/architecture.md)."""

    def __init__(self, path: Path, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        make_private(path)
        self._connections = PerThread(self._connect)
        # One writer per process at a time: the others queue here, not in SQLite's busy
        # handler, which sleeps in growing steps and so serves them late and out of order.
        self._writer = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        # The busy timeout holds from the start: switching a file to WAL waits for its lock.
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
        try:
            for pragma in _PRAGMAS:
                conn.execute(pragma)
        except BaseException:
            conn.close()
            raise
        return conn

    def _conn(self) -> sqlite3.Connection:
        return self._connections.get()

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[Tx]:
        try:
            conn = self._conn()
            conn.execute(begin)
        except sqlite3.OperationalError as error:
            if _is_busy(error):
                raise Busy() from error
            raise
        try:
            tx = SqlTx(conn)
            yield tx
            tx.flush_audit()
            conn.execute("COMMIT")
        except BaseException as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(error, sqlite3.OperationalError) and _is_busy(error):
                raise Busy() from error
            raise

    @contextmanager
    def _writing(self) -> Iterator[Tx]:
        if not self._writer.acquire(timeout=self.busy_timeout):
            raise Busy()
        try:
            with self._transaction("BEGIN IMMEDIATE") as tx:
                yield tx
        finally:
            self._writer.release()

    @contextmanager
    def _writing_if_free(self) -> Iterator[Tx]:
        if not self._writer.acquire(blocking=False):
            raise Busy()
        try:
            conn = self._conn()
            conn.execute("PRAGMA busy_timeout=0")  # nor behind another process's writer
            try:
                with self._transaction("BEGIN IMMEDIATE") as tx:
                    yield tx
            finally:
                conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        finally:
            self._writer.release()

    def write_if_free(self) -> AbstractContextManager[Tx]:
        return self._writing_if_free()

    def write(self, *users: str, log: bool = False) -> AbstractContextManager[Tx]:
        # SQLite has one writer at a time: the file lock, taken at BEGIN, covers every name.
        return held(self._writing())

    def bulk_write(self) -> AbstractContextManager[Tx]:
        return self._writing()

    def scratch(self) -> AbstractContextManager[Tx]:
        # Deferred: writing only temporary tables never takes the database's write lock.
        return self._transaction("BEGIN")

    def after_bulk_load(self) -> None:
        # Sampled statistics: a full ANALYZE of a large file would hold the write lock while
        # it read every index.
        conn = self._conn()
        conn.execute("PRAGMA analysis_limit=1000")
        conn.execute("ANALYZE")

    def read(self) -> AbstractContextManager[Tx]:
        return held(self._transaction("BEGIN"), write=False)

    def watch_changes(self, stop: threading.Event) -> Iterator[set[str]]:
        # The changes table's rowid only grows (a user's newest change is never deleted), so
        # "rowid above the last one seen" finds every change committed since, in any process.
        conn = self._connect()
        try:
            (last,) = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM changes").fetchone()
            yield set()  # watching from here on
            while not stop.is_set():
                rows = conn.execute(
                    "SELECT rowid, user_id FROM changes WHERE rowid > ? ORDER BY rowid", (last,)
                ).fetchall()
                if rows:
                    last = rows[-1][0]
                    yield {row[1] for row in rows}
                else:
                    stop.wait(WATCH_INTERVAL_SECONDS)
        finally:
            conn.close()

    def flush_freed_pages(self) -> None:
        self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self._connections.close()

    def table_names(self) -> list[str]:
        rows = (
            self._conn()
            .execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetchall()
        )
        return [r[0] for r in rows]

    def dump_rows(self, table: str) -> Iterator[tuple[Any, ...]]:
        if table not in self.table_names():
            raise ValueError(f"No table {table!r}.")
        yield from self._conn().execute(f'SELECT * FROM "{table}"')
