"""The SQLite store's writer (hushan.store.sqlite, docs/architecture.md "Group commit"): the
write turn its writes take one at a time, the batch of writes one commit carries, the counts
of those commits, and the thread that checkpoints the WAL beside them."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections import deque
from collections.abc import Callable

# The most writes one commit takes: a batch ends when no write waits for the turn, or at this
# many, so that a steady stream of writers still commits (and answers) every so often.
MAX_BATCH = 64

# How long the last write of a batch smaller than the one before waits for one more to come
# before it commits: the writes the last commit woke are on their way back, but each needs the
# interpreter lock first, so without this wait the first of them back commits alone, then the
# next, and batches stay small (PostgreSQL's `commit_delay` and `commit_siblings`, in short).
COMMIT_DELAY = 0.0005

# The background checkpointer's least pause between two checkpoints (`Checkpointer`).
CHECKPOINT_INTERVAL = 0.05

# Batch sizes counted by `CommitBatches`, as the upper bounds of a histogram's buckets.
BATCH_BOUNDS = (1, 2, 4, 8, 16, 32, MAX_BATCH)


class Turn:
    """The right to use the writer connection: one thread at a time, handed on in arrival
    order. Each waiter sleeps on a lock of its own, so a hand-over wakes exactly one thread
    (not every waiter, as a condition's notify_all would, nor in no order, as a shared lock)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._arrived = threading.Condition(self._mutex)  # a waiter joined the queue
        self._taken = False
        self._queue: deque[threading.Lock] = deque()

    def take(self, timeout: float) -> bool:
        """The turn, waited for up to `timeout` seconds (not at all if 0); False if it did not
        come in time."""
        with self._mutex:
            if not self._taken:
                self._taken = True
                return True
            if timeout <= 0:
                return False
            waiter = threading.Lock()
            waiter.acquire()
            self._queue.append(waiter)
            self._arrived.notify()
        if waiter.acquire(timeout=timeout):
            return True
        with self._mutex:
            if waiter in self._queue:
                self._queue.remove(waiter)
                return False
        return True  # handed over as the wait ran out: the turn is this thread's

    def pass_on(self, within: float = 0) -> bool:
        """Hand the turn straight to the next waiter, if one waits or comes `within` seconds
        (True); else keep it."""
        with self._mutex:
            if not self._queue and within > 0:
                self._arrived.wait(within)
            if self._queue:
                self._queue.popleft().release()
                return True
            return False

    def give_back(self) -> None:
        with self._mutex:
            if self._queue:
                self._queue.popleft().release()
            else:
                self._taken = False


class Batch:
    """The writes in one open transaction of the writer connection, and how it ended."""

    def __init__(self) -> None:
        self.size = 0  # writes that will commit with it (a refused one rolled itself back)
        # One lock per write waiting for the commit, released by it: woken one by one, they
        # do not all queue for one condition's lock on the way out.
        self.sleepers: list[threading.Lock] = []
        self.failure: BaseException | None = None  # why it did not commit


class CommitBatches:
    """How many writes each of the store's commits carried, counted since it opened; each
    listener is told every commit's size too (`/metrics`' `hushan_write_batch_size`)."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[int], None]] = []
        self._lock = threading.Lock()
        self.commits = 0
        self.writes = 0
        self.largest = 0
        # Commits by size: up to each bound of BATCH_BOUNDS and above the one before.
        self.by_bound = [0] * len(BATCH_BOUNDS)

    def record(self, size: int) -> None:
        with self._lock:
            self.commits += 1
            self.writes += size
            self.largest = max(self.largest, size)
            self.by_bound[next(i for i, b in enumerate(BATCH_BOUNDS) if size <= b)] += 1
        for listener in self.listeners:
            listener(size)


class Checkpointer:
    """Copies committed WAL frames back into the database file on a thread of its own, so
    that no write waits for it: SQLite's automatic checkpoint (off on the writer connection)
    would run inside whichever commit crossed its threshold, syncing the file there. Woken by
    commits, it checkpoints at most every `CHECKPOINT_INTERVAL`, and never waits for a lock
    (PASSIVE: what readers still need stays in the WAL until a later round)."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hushan-checkpoint", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        if not self._wanted.is_set():
            self._wanted.set()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stopping.is_set():
                self._wanted.wait()
                self._wanted.clear()
                with contextlib.suppress(sqlite3.Error):  # tried again after the next commit
                    if conn is None:
                        conn = self._connect()
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self._stopping.wait(CHECKPOINT_INTERVAL)
        finally:
            if conn is not None:
                conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self._wanted.set()
        self._thread.join()
