"""The SQLite store: one file in WAL mode, one connection per thread, plain DB-API SQL.

Why raw `sqlite3` rather than an SQL toolkit here: each relationship change is a handful of
primary-key statements, and per-statement overhead decides throughput (see bench/). The SQL
itself is shared with the other backends (`hushan.store.sql`).

`secure_delete` makes SQLite overwrite the bytes of deleted rows, so a destroyed data key does
not linger in free pages; `flush_freed_pages` checkpoints the WAL so its old frames go too.

Writes are committed in groups (docs/architecture.md, "Group commit"): the writes of a process
take turns on one writer connection, each in a savepoint of one open transaction, and the last
of those that arrived together commits them all; none returns before that commit.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from hushan.domain.errors import Busy
from hushan.store.base import DEFAULT_BUSY_TIMEOUT, Store, Tx
from hushan.store.connections import PerThread
from hushan.store.held import held
from hushan.store.sql import SqlTx
from hushan.store.sqlite_writer import (
    COMMIT_DELAY,
    MAX_BATCH,
    Batch,
    Checkpointer,
    CommitBatches,
    Turn,
)

# How often a process looks for changes other processes made (the sync feed's long-polls): one
# indexed query per interval, whatever the number of waiting clients.
WATCH_INTERVAL_SECONDS = 0.1
# How soon a WAL checkpoint that something held back is tried again (`flush_freed_pages`).
FLUSH_RETRY_SECONDS = 0.01

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA secure_delete=ON",
    "PRAGMA foreign_keys=OFF",
)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    primary = getattr(error, "sqlite_errorcode", 0) & 0xFF  # extended codes carry it low
    return primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _busy_or(error: BaseException) -> BaseException:
    if isinstance(error, sqlite3.OperationalError) and _is_busy(error):
        busy = Busy()
        busy.__cause__ = error
        return busy
    return error


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
    writers (in arrival order), then behind another process's (SQLite's busy handler), before
    it gives up with `Busy` (docs/architecture.md)."""

    def __init__(self, path: Path, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        make_private(path)
        self._connections = PerThread(self._connect)
        # One writer per process: the writes queue for the turn here, not in SQLite's busy
        # handler, which sleeps in growing steps and so serves them late and out of order.
        self._turn = Turn()
        # Used only by the thread whose turn it is; `_batch` is its open transaction's writes.
        self._writer: sqlite3.Connection | None = None
        self._checkpointer: Checkpointer | None = None
        self._batch: Batch | None = None
        self._last_size = 0  # of the batch committed last
        self.batches = CommitBatches()

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

    # ---- group commit ------------------------------------------------------------------------
    def _connect_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's work
        if self._checkpointer is None:
            self._checkpointer = Checkpointer(self._connect)
        return conn

    def _open_batch(self, busy_timeout: float) -> Batch:
        """The open transaction's batch, or a new one (with the turn held): BEGIN IMMEDIATE
        waits up to `busy_timeout` for another process's writer."""
        if self._batch is not None:
            return self._batch
        try:
            if self._writer is None:
                self._writer = self._connect_writer()
            conn = self._writer
            if busy_timeout != self.busy_timeout:
                conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            try:
                conn.execute("BEGIN IMMEDIATE")
            finally:
                if busy_timeout != self.busy_timeout:
                    conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        except sqlite3.OperationalError as error:
            if _is_busy(error):
                raise Busy() from error
            raise
        self._batch = Batch()
        return self._batch

    def _settle(self, batch: Batch) -> None:
        """Commit the batch (a broken one is rolled back) and wake its writes; the turn stays
        with the caller."""
        conn = self._writer
        assert conn is not None
        try:
            if batch.failure is None:
                try:
                    conn.execute("COMMIT")
                except BaseException as error:
                    batch.failure = error
                else:
                    if batch.size:  # not a batch of refusals alone, which wrote nothing
                        self.batches.record(batch.size)
                    assert self._checkpointer is not None
                    self._checkpointer.wake()
                self._last_size = batch.size
            if conn.in_transaction:  # a failed COMMIT leaves the transaction open
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
        finally:
            self._batch = None
            for sleeper in batch.sleepers:
                sleeper.release()

    def _undo(self, conn: sqlite3.Connection, batch: Batch, cause: BaseException) -> None:
        """Roll back one write's savepoint; if that fails, or SQLite has already rolled back
        the whole transaction (it does on some errors), the batch is broken."""
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO write")
                conn.execute("RELEASE write")
                return
        except sqlite3.Error as error:
            batch.failure = error
            return
        batch.failure = cause

    @contextmanager
    def _member(self, wait: float, busy_timeout: float) -> Iterator[Tx]:
        """One write of a batch: its block runs on the writer connection, in a savepoint of the
        batch's transaction, on the caller's thread; then the turn goes to the next write
        waiting (whose block joins the same transaction) or, if none waits or the batch is
        full, this write commits the batch. Either way it returns only once the batch has
        committed, and raises if that failed."""
        if not self._turn.take(wait):
            raise Busy()
        try:
            batch = self._open_batch(busy_timeout)
        except BaseException:
            self._turn.give_back()
            raise
        conn = self._writer
        assert conn is not None
        own: BaseException | None = None
        broke = False  # the batch, by this write's failure
        try:
            conn.execute("SAVEPOINT write")
            tx = SqlTx(conn)
            yield tx
            tx.flush_audit()
            conn.execute("RELEASE write")
        except BaseException as error:
            own = error
            self._undo(conn, batch, error)
            broke = batch.failure is not None
        batch.size += own is None
        sleeper: threading.Lock | None = None
        if batch.failure is None and batch.size < MAX_BATCH:
            sleeper = threading.Lock()
            sleeper.acquire()
            batch.sleepers.append(sleeper)  # before the hand-over: the commit may come at once
            delay = COMMIT_DELAY if batch.size < self._last_size else 0
            if not self._turn.pass_on(delay):
                batch.sleepers.pop()  # nobody waits: this write commits
                sleeper = None
        if sleeper is None:
            try:
                self._settle(batch)
            finally:
                self._turn.give_back()
        else:
            sleeper.acquire()
        if own is not None and (batch.failure is None or broke):
            raise _busy_or(own)
        if batch.failure is not None:
            # A refusal made with the batch's earlier writes in view fails with them too.
            failed = _busy_or(batch.failure)
            if failed is batch.failure:
                raise sqlite3.OperationalError(
                    f"the write's batch did not commit: {failed}"
                ) from failed
            raise failed

    def _writing(self) -> AbstractContextManager[Tx]:
        return self._member(self.busy_timeout, self.busy_timeout)

    @contextmanager
    def _alone(self) -> Iterator[Tx]:
        """A write on this thread's own connection (where a bulk import's staging tables
        are), with the turn held throughout: an open batch is committed first."""
        if not self._turn.take(self.busy_timeout):
            raise Busy()
        try:
            if self._batch is not None:
                self._settle(self._batch)
            with self._transaction("BEGIN IMMEDIATE") as tx:
                yield tx
        finally:
            self._turn.give_back()

    def write_if_free(self) -> AbstractContextManager[Tx]:
        # Neither behind this process's writers nor behind another process's.
        return self._member(0, 0)

    def write(self, *users: str, log: bool = False) -> AbstractContextManager[Tx]:
        # SQLite has one writer at a time: the file lock, taken at BEGIN, covers every name.
        return held(self._writing())

    def bulk_write(self) -> AbstractContextManager[Tx]:
        return self._alone()

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
        """Checkpoint the whole WAL and empty it, so no old frame keeps a destroyed key. A
        TRUNCATE checkpoint that another checkpoint or a reader still in an older snapshot
        holds back says so (its first column) rather than waiting: it is tried again until it
        is done, up to the busy timeout."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            busy, _, _ = self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            if time.monotonic() > deadline:
                raise Busy()
            time.sleep(FLUSH_RETRY_SECONDS)

    def close(self) -> None:
        self._connections.close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None

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
