"""The serving layer's write path, in one process (docs/architecture.md): the engine pool runs
calls off the event loop within its bound, and the SQLite store lets one write at a time take
its turn within the busy timeout, then answers `Busy` having changed nothing."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hushan.api.offload import EnginePool, PoolLimits
from hushan.domain.errors import Busy
from hushan.importer import import_edges
from hushan.service import Hushan
from hushan.store.held import Hold, holding
from hushan.store.sqlite import SqliteStore, _is_busy
from tests.conftest import plain_user, sqlite_store_copy

TIMEOUT = 0.3
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


@pytest.fixture
def store(template_db: Path, tmp_path: Path) -> Iterator[SqliteStore]:
    with sqlite_store_copy(template_db, tmp_path, TIMEOUT) as opened:
        yield opened


user = plain_user


def users_present(store: SqliteStore, *names: str) -> list[str]:
    with store.read() as tx:
        return [name for name in names if tx.get_user(name) is not None]


def add_user(store: SqliteStore, name: str) -> None:
    with store.write(name) as tx:
        tx.insert_user(user(name))


@contextlib.contextmanager
def writer_held(store: SqliteStore) -> Iterator[threading.Event]:
    """Another thread of this process holds the store's write turn until the returned event
    is set, or the block ends."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.write("a"):
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    try:
        yield release
    finally:
        release.set()
        holder.join()


def test_a_write_waits_for_this_process_s_writer_then_goes(store: SqliteStore) -> None:
    with writer_held(store) as release:
        threading.Timer(TIMEOUT / 3, release.set).start()
        add_user(store, "b")  # waits its turn, within the timeout
    assert users_present(store, "a", "b", "c") == ["b"]


def test_a_write_that_cannot_get_this_process_s_writer_in_time_is_busy(
    store: SqliteStore,
) -> None:
    with writer_held(store):
        start = time.monotonic()
        with pytest.raises(Busy):
            add_user(store, "b")
        assert TIMEOUT * 0.9 <= time.monotonic() - start < TIMEOUT * 5
    add_user(store, "c")  # the writer's turn was given back
    assert users_present(store, "a", "b", "c") == ["c"]


def test_a_write_behind_another_process_s_lock_is_busy_and_leaves_no_trace(
    store: SqliteStore,
) -> None:
    assert users_present(store, "a") == []  # the store has opened the file (in WAL mode)
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holding the file's write lock
    try:
        start = time.monotonic()
        with pytest.raises(Busy):
            add_user(store, "a")
        assert time.monotonic() - start < TIMEOUT * 5  # the store's timeout, not SQLite's 5 s
        assert users_present(store, "a") == []  # a reader is not held up by the writer
    finally:
        other.execute("ROLLBACK")
        other.close()
    add_user(store, "b")  # the in-process turn was given back after the refusal
    assert users_present(store, "a", "b", "c") == ["b"]


def test_a_failed_write_rolls_back_and_gives_back_its_turn(store: SqliteStore) -> None:
    with pytest.raises(RuntimeError), store.write("a") as tx:
        tx.insert_user(user("a"))
        raise RuntimeError("refused halfway")
    assert users_present(store, "a") == []
    add_user(store, "b")
    assert users_present(store, "a", "b", "c") == ["b"]


def test_only_lock_errors_read_as_busy() -> None:
    def error(code: int) -> sqlite3.OperationalError:
        failure = sqlite3.OperationalError("x")
        failure.sqlite_errorcode = code
        return failure

    busy_snapshot = sqlite3.SQLITE_BUSY | (2 << 8)  # an extended code carries the primary low
    for code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, busy_snapshot):
        assert _is_busy(error(code))
    for code in (sqlite3.SQLITE_ERROR, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL):
        assert not _is_busy(error(code))
    assert not _is_busy(sqlite3.OperationalError("no code"))


def test_the_pool_runs_a_call_off_the_loop_in_the_caller_s_context() -> None:
    async def scenario() -> None:
        pool = EnginePool(PoolLimits(threads=2, max_pending=0))
        try:
            request_id.set("req-7")
            loop_thread = threading.get_ident()
            seen = await pool.run(lambda: (threading.current_thread(), request_id.get()))
            assert seen[0].ident != loop_thread and seen[1] == "req-7"
            assert seen[0].name.startswith("hushan-engine")  # its own threads, not the loop's
            assert await pool.run(int, "17", base=8) == 15
            assert await pool.run(divmod, 7, 2) == (3, 1)
            with pytest.raises(ZeroDivisionError):
                await pool.run(divmod, 1, 0)
            assert pool.in_flight == 0  # a call that raised is no longer counted
        finally:
            pool.close()

    asyncio.run(scenario())


def test_the_pool_takes_its_threads_plus_its_queue_and_refuses_the_next() -> None:
    async def scenario() -> None:
        pool = EnginePool(PoolLimits(threads=2, max_pending=1))
        release = threading.Event()
        try:
            held = [asyncio.ensure_future(pool.run(release.wait, 10)) for _ in range(3)]
            await asyncio.sleep(0.05)
            assert pool.in_flight == 3
            with pytest.raises(Busy):
                await pool.run(lambda: "fourth")
            assert pool.in_flight == 3  # a refused call never counted
            release.set()
            assert await asyncio.gather(*held) == [True, True, True]
            assert await pool.run(lambda: "after") == "after"
        finally:
            release.set()
            pool.close()

    asyncio.run(scenario())


def test_a_job_runs_beside_the_requests_and_counts_against_none() -> None:
    async def scenario() -> None:
        pool = EnginePool(PoolLimits(threads=2, max_pending=0))
        release = threading.Event()
        try:
            job = pool.submit(lambda: release.wait(10))
            await asyncio.sleep(0.05)
            assert pool.in_flight == 0
            assert await pool.run(lambda: "served meanwhile") == "served meanwhile"
            release.set()
            assert await job is True
        finally:
            release.set()
            pool.close()

    asyncio.run(scenario())


def test_closing_the_pool_waits_for_the_call_in_flight() -> None:
    finished: list[str] = []

    def slow() -> None:
        time.sleep(0.1)
        finished.append("done")

    async def scenario() -> None:
        pool = EnginePool(PoolLimits(threads=1, max_pending=0))
        pool.submit(slow)
        pool.close()

    asyncio.run(scenario())
    assert finished == ["done"]


def test_a_connection_opened_behind_another_process_s_lock_is_busy(
    template_db: Path, tmp_path: Path
) -> None:
    """A new engine thread's first connection may have to wait for the file too (switching a
    new file to WAL does): past the busy timeout that is `Busy`, not an error."""
    path = tmp_path / "new.db"
    shutil.copyfile(template_db, path)  # not yet opened by a store: not in WAL mode
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    store = SqliteStore(path, busy_timeout=TIMEOUT)
    try:
        start = time.monotonic()
        with pytest.raises(Busy):
            users_present(store, "a")
        assert time.monotonic() - start < TIMEOUT * 5
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert users_present(store, "a") == []
    store.close()


def test_the_pool_runs_no_more_calls_at_once_than_it_has_threads() -> None:
    running, most = 0, 0
    counting = threading.Lock()

    def call() -> None:
        nonlocal running, most
        with counting:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with counting:
            running -= 1

    async def scenario() -> None:
        pool = EnginePool(PoolLimits(threads=2, max_pending=10))
        try:
            await asyncio.gather(*(pool.run(call) for _ in range(6)))
        finally:
            pool.close()

    asyncio.run(scenario())
    assert most == 2


def test_closing_the_pool_drops_the_calls_not_yet_started() -> None:
    ran: list[int] = []

    def slow() -> None:
        time.sleep(0.1)
        ran.append(1)

    async def scenario() -> None:
        pool = EnginePool(PoolLimits(threads=1, max_pending=0))
        first = pool.submit(slow)
        queued = pool.submit(lambda: ran.append(2))
        await asyncio.sleep(0.02)
        pool.close()  # a stopping server does not start what was still queued
        await asyncio.sleep(0)
        assert first.done() and queued.cancelled()

    asyncio.run(scenario())
    assert ran == [1]


def test_a_bulk_import_refreshes_the_planner_s_statistics(sqlite_engine: Hushan) -> None:
    result = import_edges(sqlite_engine, [f"u{n},v{n}" for n in range(20)])
    assert result.statistics_error is None
    store = sqlite_engine.store
    assert isinstance(store, SqliteStore)
    tables = {row[0] for row in store.dump_rows("sqlite_stat1")}
    assert {"users", "edges"} <= tables


def test_a_dump_of_a_table_that_does_not_exist_says_which(store: SqliteStore) -> None:
    with pytest.raises(ValueError, match="No table 'nowhere'"):
        list(store.dump_rows("nowhere"))


def test_the_store_sees_changes_committed_through_another_connection(
    sqlite_engine: Hushan,
) -> None:
    """What wakes long-polls in every process: each change committed anywhere is seen once,
    promptly, also by a watch that was idle."""
    store = sqlite_engine.store
    assert isinstance(store, SqliteStore)
    other = SqliteStore(store.path)
    engine = sqlite_engine
    elsewhere = Hushan(other, engine.sealer, engine.log.signer, engine.clock)
    for user in "abcdef":
        engine.create_user(user, verification_required=False)
        engine.register_device(user, "phone")  # the feed keeps changes for devices only
    stop = threading.Event()
    seen: queue.Queue[set[str]] = queue.Queue()
    watching = store.watch_changes(stop)
    assert next(watching) == set()  # watching from here on: earlier changes are not news
    elsewhere.send_request("a", "b")
    elsewhere.send_request("c", "d")

    def watch() -> None:
        for users in watching:
            seen.put(users)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:

        def users_seen(expected: set[str]) -> set[str]:
            got: set[str] = set()
            with contextlib.suppress(queue.Empty):
                while got != expected:
                    got |= seen.get(timeout=2)
            return got

        assert users_seen({"a", "b", "c", "d"}) == {"a", "b", "c", "d"}
        time.sleep(0.3)  # the watch is idle now
        elsewhere.send_request("e", "f")
        assert users_seen({"e", "f"}) == {"e", "f"}  # seen, and nothing seen again
        time.sleep(0.3)
        assert seen.empty()
    finally:
        stop.set()
        watcher.join(5)
        other.close()
    assert not watcher.is_alive()  # a stopped watch ends


def test_a_write_if_free_never_waits(store: SqliteStore) -> None:
    """For hints (a token's last use): refused at once while any writer holds the lock."""
    with writer_held(store), pytest.raises(Busy), store.write_if_free() as tx:
        tx.insert_user(user("b"))
    assert users_present(store, "a") == []  # the store has opened the file (in WAL mode)
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer
    try:
        start = time.monotonic()
        with pytest.raises(Busy), store.write_if_free() as tx:
            tx.insert_user(user("b"))
        assert time.monotonic() - start < TIMEOUT / 2
    finally:
        other.execute("ROLLBACK")
        other.close()
    with store.write_if_free() as tx:
        tx.insert_user(user("c"))
    add_user(store, "d")  # the ordinary timeout is back
    assert users_present(store, "b", "c", "d") == ["c", "d"]


def test_under_a_hold_a_read_before_any_write_is_an_ordinary_one(store: SqliteStore) -> None:
    """hushan.store.held: only the first write is held open for its reply; a read before
    it does not become the held transaction, and the write is committed only by `finish`."""
    hold = Hold()
    with holding(hold):
        with store.read() as tx:
            assert tx.get_user("a") is None
        assert not hold.holding
        with store.write("a") as tx:
            tx.insert_user(user("a"))
        assert hold.holding
    assert users_present(store, "a") == []
    hold.finish(lambda tx: None)
    assert users_present(store, "a") == ["a"]
