"""Group commit on SQLite (docs/architecture.md): the writes that wait for the turn while one
runs join its transaction, each in a savepoint; the last commits them all, and none returns
before that commit. A refusal rolls back only itself; a failed commit fails every write of
the batch."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hushan.domain.errors import Busy, UserNotFound
from hushan.domain.model import User
from hushan.store.base import Tx
from hushan.store.held import Hold, holding
from hushan.store.sqlite import SqliteStore
from hushan.store.sqlite_writer import MAX_BATCH, Turn
from tests.conftest import plain_user, sqlite_store_copy

TIMEOUT = 2.0


@pytest.fixture
def store(template_db: Path, tmp_path: Path) -> Iterator[SqliteStore]:
    with sqlite_store_copy(template_db, tmp_path, TIMEOUT) as opened:
        yield opened


user = plain_user


def seen_elsewhere(store: SqliteStore, *names: str) -> list[str]:
    """The users a connection of its own (as another process's) sees committed."""
    other = sqlite3.connect(store.path)
    try:
        return [
            n for n in names if other.execute("SELECT 1 FROM users WHERE id = ?", (n,)).fetchone()
        ]
    finally:
        other.close()


def waiting(store: SqliteStore) -> int:
    return len(store._turn._queue)


class Writer:
    """A write of one user on a thread of its own: `block(tx)` runs after the insert, inside
    the write's block; what the write raised and when it returned are kept."""

    def __init__(
        self, store: SqliteStore, name: str, block: Callable[[Tx], None] = lambda tx: None
    ) -> None:
        self.store, self.name, self.block = store, name, block
        self.error: BaseException | None = None
        self.seen_on_return: list[str] = []
        self.returned = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            with self.store.write(self.name) as tx:
                tx.insert_user(user(self.name))
                self.block(tx)
        except BaseException as error:
            self.error = error
        self.seen_on_return = seen_elsewhere(self.store, self.name)
        self.returned.set()

    def start(self) -> Writer:
        self.thread.start()
        return self

    def join(self) -> None:
        self.thread.join(10)
        assert not self.thread.is_alive()


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def queued(store: SqliteStore, count: int) -> Callable[[], bool]:
    return lambda: waiting(store) == count


def queued_behind(store: SqliteStore, *names: str) -> tuple[threading.Event, list[Writer]]:
    """A first write that stays in its block until the returned event is set, and the writes
    `names` queued for the turn behind it, in that order: set the event and they form one
    batch."""
    inside, release = threading.Event(), threading.Event()

    def stay(tx: Tx) -> None:
        inside.set()
        assert release.wait(10)

    first = Writer(store, "first", stay).start()
    assert inside.wait(5)
    writers = [first]
    for name in names:
        writers.append(Writer(store, name).start())
        until(queued(store, len(writers) - 1))
    return release, writers


def refuse(tx: Tx) -> None:
    raise UserNotFound()


def test_writes_that_wait_together_commit_together(store: SqliteStore) -> None:
    release, writers = queued_behind(store, "b", "c", "d")
    release.set()
    for writer in writers:
        writer.join()
        assert writer.error is None
    assert (store.batches.commits, store.batches.writes, store.batches.largest) == (1, 4, 4)
    assert seen_elsewhere(store, "first", "b", "c", "d") == ["first", "b", "c", "d"]


def test_a_refusal_in_a_batch_rolls_back_only_itself(store: SqliteStore) -> None:
    inside, release = threading.Event(), threading.Event()

    def stay(tx: Tx) -> None:
        inside.set()
        assert release.wait(10)

    first = Writer(store, "first", stay).start()
    assert inside.wait(5)
    refused = Writer(store, "refused", refuse).start()
    until(lambda: waiting(store) == 1)
    last = Writer(store, "last").start()
    until(lambda: waiting(store) == 2)
    release.set()
    for writer in (first, refused, last):
        writer.join()
    assert first.error is None and last.error is None
    assert isinstance(refused.error, UserNotFound)
    assert seen_elsewhere(store, "first", "refused", "last") == ["first", "last"]
    assert (store.batches.commits, store.batches.writes) == (1, 2)  # the refusal is no write


def test_a_write_returns_only_once_its_batch_has_committed(store: SqliteStore) -> None:
    """The first write's block is done, but the batch's last write is still in its block:
    the first waits, unseen by any other connection, until the last ends and commits both."""
    release, (first,) = queued_behind(store)
    inside_last, release_last = threading.Event(), threading.Event()

    def stay(tx: Tx) -> None:
        inside_last.set()
        assert release_last.wait(10)

    last = Writer(store, "last", stay).start()
    until(lambda: waiting(store) == 1)
    release.set()
    assert inside_last.wait(5)  # the first handed its turn over without committing
    assert not first.returned.wait(0.2)
    assert seen_elsewhere(store, "first") == []
    release_last.set()
    for writer in (first, last):
        writer.join()
        assert writer.error is None
        assert writer.seen_on_return == [writer.name]  # committed before the call returned


def test_a_failed_commit_fails_every_write_of_the_batch(store: SqliteStore) -> None:
    release, writers = queued_behind(store, "b", "c")
    assert store._writer is not None

    def no_commit(action: int, arg1: str | None, *rest: object) -> int:
        refused = action == sqlite3.SQLITE_TRANSACTION and arg1 == "COMMIT"
        return sqlite3.SQLITE_DENY if refused else sqlite3.SQLITE_OK

    store._writer.set_authorizer(no_commit)  # SQLite itself refuses the COMMIT
    release.set()
    for writer in writers:
        writer.join()
        assert isinstance(writer.error, sqlite3.DatabaseError), writer.name
    assert seen_elsewhere(store, "first", "b", "c") == []
    assert store.batches.commits == 0
    store._writer.set_authorizer(None)
    after = Writer(store, "after").start()
    after.join()
    assert after.error is None and after.seen_on_return == ["after"]  # the turn came back


def test_a_failure_that_ends_the_transaction_fails_the_writes_before_it(
    store: SqliteStore,
) -> None:
    """Some SQLite errors roll back the whole transaction, not only the statement: the writes
    already in the batch are gone with it, and say so."""

    def lose_the_transaction(tx: Tx) -> None:
        assert store._writer is not None
        store._writer.execute("ROLLBACK")  # as SQLite does itself on, say, a full disk
        raise sqlite3.OperationalError("database or disk is full")

    release, (first,) = queued_behind(store)
    breaker = Writer(store, "breaker", lose_the_transaction).start()
    until(lambda: waiting(store) == 1)
    release.set()
    for writer in (first, breaker):
        writer.join()
    assert isinstance(breaker.error, sqlite3.OperationalError)
    assert "disk is full" in str(breaker.error)
    assert isinstance(first.error, sqlite3.OperationalError)
    assert "did not commit" in str(first.error)
    assert seen_elsewhere(store, "first", "breaker") == []
    after = Writer(store, "after").start()
    after.join()
    assert after.error is None and after.seen_on_return == ["after"]


def test_a_held_write_in_a_batch_commits_it_when_it_finishes(store: SqliteStore) -> None:
    """hushan.store.held: a write kept open for its reply keeps the batch open too."""
    release, (first,) = queued_behind(store)
    held_open, finish = threading.Event(), threading.Event()
    seen: list[str] = []

    def reply(tx: Tx) -> None:
        tx.insert_user(user("reply"))

    def keyed() -> None:
        hold = Hold()
        with holding(hold):
            with store.write("keyed") as tx:
                tx.insert_user(user("keyed"))
            held_open.set()
            assert finish.wait(10)
            hold.finish(reply)
        seen.extend(seen_elsewhere(store, "first", "keyed", "reply"))

    thread = threading.Thread(target=keyed)
    thread.start()
    until(lambda: waiting(store) == 1)
    release.set()
    assert held_open.wait(5)
    assert not first.returned.wait(0.2)  # its batch is not committed while the hold is open
    finish.set()
    thread.join(10)
    first.join()
    assert first.error is None and first.seen_on_return == ["first"]
    assert seen == ["first", "keyed", "reply"]
    assert (store.batches.commits, store.batches.writes) == (1, 2)


def test_a_bulk_write_commits_the_open_batch_first(store: SqliteStore) -> None:
    """A bulk write runs on its thread's own connection (its staging tables are there): the
    batch open on the writer connection is committed before it begins, not left waiting."""
    release, (first,) = queued_behind(store)
    bulk_seen: list[str] = []

    def bulk() -> None:
        with store.bulk_write() as tx:
            bulk_seen.extend(seen_elsewhere(store, "first"))
            tx.insert_user(user("bulk"))

    thread = threading.Thread(target=bulk)
    thread.start()
    until(lambda: waiting(store) == 1)
    release.set()
    thread.join(10)
    first.join()
    assert first.error is None
    assert bulk_seen == ["first"]
    assert seen_elsewhere(store, "first", "bulk") == ["first", "bulk"]


def test_a_batch_is_committed_at_its_cap(store: SqliteStore) -> None:
    names = [f"u{n:03d}" for n in range(MAX_BATCH + 2)]
    release, writers = queued_behind(store, *names)
    release.set()
    for writer in writers:
        writer.join()
        assert writer.error is None
    assert store.batches.largest == MAX_BATCH
    assert store.batches.writes == len(writers)
    assert store.batches.commits == 2


def test_a_write_behind_a_batch_gives_up_in_time(template_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "hushan.db"
    shutil.copyfile(template_db, path)
    store = SqliteStore(path, busy_timeout=0.2)
    try:
        release, (first,) = queued_behind(store)
        late = Writer(store, "late").start()
        late.join()
        assert isinstance(late.error, Busy)
        release.set()
        first.join()
        assert first.error is None
        assert store.batches.writes == 1
        assert seen_elsewhere(store, "first", "late") == ["first"]
    finally:
        store.close()


def test_concurrent_writers_share_commits(store: SqliteStore) -> None:
    threads, each = 8, 40
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        start.wait()
        try:
            for k in range(each):
                with store.write() as tx:
                    tx.insert_user(user(f"t{n}-{k}"))
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert errors == []
    assert store.batches.writes == threads * each
    assert store.batches.largest > 1
    assert store.batches.commits < threads * each
    assert sum(store.batches.by_bound) == store.batches.commits
    with store.read() as tx:
        assert len(tx.list_users()) == threads * each


def test_the_wal_is_checkpointed_beside_the_writes_not_in_them(store: SqliteStore) -> None:
    """The writer connection never checkpoints (no commit pays for it); the store's own thread
    copies the WAL into the database file soon after commits, and stops with the store."""
    with store.write() as tx:
        tx.insert_user(user("first"))
    assert store._writer is not None and store._checkpointer is not None
    assert store._writer.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    time.sleep(0.2)
    size = store.path.stat().st_size
    for n in range(300):  # far fewer pages than an automatic checkpoint waits for (1,000)
        with store.write() as tx:
            tx.insert_user(User(f"u{n}", "x" * 500, False, datetime(2026, 1, 1, tzinfo=UTC)))
    until(lambda: store.path.stat().st_size > size)
    thread = store._checkpointer._thread
    assert thread.name == "hushan-checkpoint"  # as a thread dump names it
    store.close()
    assert not thread.is_alive()


def test_a_batch_of_refusals_alone_is_no_write(store: SqliteStore) -> None:
    refused = Writer(store, "refused", refuse).start()
    refused.join()
    assert isinstance(refused.error, UserNotFound)
    assert (store.batches.commits, store.batches.writes) == (0, 0)
    after = Writer(store, "after").start()
    after.join()
    assert (store.batches.commits, store.batches.writes, store.batches.by_bound[0]) == (1, 1, 1)


def test_freed_pages_are_flushed_even_past_a_checkpoint_held_back(store: SqliteStore) -> None:
    """A purge empties the WAL (`flush_freed_pages`): a reader in an older snapshot, or the
    background checkpointer at work, holds a TRUNCATE checkpoint back; the flush tries again
    until it is done, and gives up with Busy only past the busy timeout."""
    with store.write() as tx:
        tx.insert_user(user("a"))
    wal = Path(f"{store.path}-wal")
    reader = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM users").fetchone()  # holds its snapshot
        with store.write() as tx:
            tx.insert_user(user("b"))  # a frame the reader's snapshot predates
        timer = threading.Timer(0.3, lambda: reader.execute("COMMIT"))
        timer.start()
        started = time.monotonic()
        store.flush_freed_pages()
        assert time.monotonic() - started >= 0.25  # it waited for the reader
        assert wal.stat().st_size == 0
        timer.join()
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM users").fetchone()
        with store.write() as tx:
            tx.insert_user(user("c"))
        with pytest.raises(Busy):
            store.flush_freed_pages()  # the reader never lets go
    finally:
        reader.close()


def test_a_write_that_cannot_wait_leaves_the_writer_s_timeout_as_it_was(
    store: SqliteStore,
) -> None:
    with store.write_if_free() as tx:  # no wait behind another process: busy_timeout 0
        tx.insert_user(user("a"))
    assert store._writer is not None
    assert store._writer.execute("PRAGMA busy_timeout").fetchone() == (int(TIMEOUT * 1000),)


def test_the_turn_waits_a_moment_for_a_write_to_come_before_it_commits() -> None:
    """`pass_on(within)`: a batch's last write hands the turn to one that arrives within the
    delay (joining the batch) rather than committing alone."""
    turn = Turn()
    assert turn.take(0)
    taken: list[bool] = []
    late = threading.Timer(0.2, lambda: taken.append(turn.take(5)))
    late.start()
    assert turn.pass_on(2.0)  # it came, and has the turn now
    late.join()
    assert taken == [True]
    assert not turn.pass_on(0)  # nobody waits, and no delay: the turn stays
    turn.give_back()
    assert turn.take(0)
