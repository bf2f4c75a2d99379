"""PostgreSQL's writers lock the users they change, not the database: changes to disjoint users
run side by side, changes sharing a user wait for each other, and audit entries still reach
the transparency log in commit order with none passed over."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from hushan.domain.model import AuditAction, AuditEntry, PairRelation
from hushan.importer import import_edges
from hushan.service import Hushan
from hushan.store.postgres import PostgresStore
from hushan.tlog import maproot
from tests.conftest import POSTGRES, Backends

pytestmark = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL is not reachable")

# The audit entries' leaves in log order (each checkpoint's map-root leaf is the log's own).
ENTRY_LEAF_SEQS = f"SELECT seq FROM log_leaves WHERE user_lo != '{maproot.LEAF_USER}' ORDER BY idx"


@pytest.fixture
def pg_engine(request: pytest.FixtureRequest) -> Iterator[Hushan]:
    made = Backends("postgres", request)
    yield made.engine()
    made.close()


def in_thread(work: Callable[[], None]) -> tuple[threading.Thread, threading.Event]:
    done = threading.Event()

    def run() -> None:
        work()
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def test_writers_wait_only_for_writers_of_the_same_user(pg_engine: Hushan) -> None:
    store = pg_engine.store
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.write("a", "b"):
            holding.set()
            assert release.wait(10)

    holder, _ = in_thread(hold)
    assert holding.wait(10)

    def write(*users: str) -> Callable[[], None]:
        def run() -> None:
            with store.write(*users) as tx:
                tx.get_user(users[0])

        return run

    disjoint, disjoint_done = in_thread(write("c", "d"))
    assert disjoint_done.wait(5), "a writer of other users waited"
    sharing, sharing_done = in_thread(write("e", "b"))
    log_writer, log_done = in_thread(lambda: write_log(store))
    assert log_done.wait(5), "a log writer waited for a user's writer"
    assert not sharing_done.wait(0.5), "a writer of the same user did not wait"
    release.set()
    assert sharing_done.wait(5)
    for thread in (holder, disjoint, sharing, log_writer):
        thread.join(5)


def write_log(store: PostgresStore | object) -> None:
    assert isinstance(store, PostgresStore)
    with store.write(log=True) as tx:
        tx.log_head()


def test_the_log_integrates_every_entry_while_writers_race(pg_engine: Hushan) -> None:
    """Writers on disjoint pairs commit in an order of their own while publishers integrate:
    every audit entry ends in the tree exactly once, none passed over while still in flight."""
    engine = pg_engine
    engine.log.batch = 3  # many small integrations, to land between commits
    writers, rounds = 4, 15
    for n in range(writers):
        engine.create_user(f"a{n}")
        engine.create_user(f"b{n}")
    failures: list[BaseException] = []

    def churn(n: int) -> Callable[[], None]:
        def run() -> None:
            try:
                for _ in range(rounds):
                    engine.send_request(f"a{n}", f"b{n}")
                    engine.accept_request(f"b{n}", f"a{n}")
                    engine.delete_contact(f"a{n}", f"b{n}")
            except BaseException as error:  # surfaced below
                failures.append(error)

        return run

    stop = threading.Event()

    def publish() -> None:
        try:
            while not stop.is_set():
                engine.log.publish()
        except BaseException as error:
            failures.append(error)

    threads = [in_thread(churn(n))[0] for n in range(writers)]
    publishers = [in_thread(publish)[0] for _ in range(2)]
    for thread in threads:
        thread.join(60)
    stop.set()
    for thread in publishers:
        thread.join(60)
    assert not failures, failures
    engine.log.publish()
    assert isinstance(engine.store, PostgresStore)
    with psycopg.connect(engine.store.url) as conn:
        audited = [r[0] for r in conn.execute("SELECT seq FROM audit_log ORDER BY seq")]
        leaves = [r[0] for r in conn.execute(ENTRY_LEAF_SEQS)]
    assert len(audited) >= writers * rounds * 2  # at least a re-add and a delete per round
    assert leaves == audited


def test_an_entry_still_to_commit_holds_back_the_entries_after_it(pg_engine: Hushan) -> None:
    """Writer 1 has numbered its entry but not committed; writer 2, on other users, commits
    an entry after it. The log must not integrate writer 2's entry first and then pass over
    writer 1's: numbering waits for the commit before it."""
    engine, store = pg_engine, pg_engine.store
    for user in ("a", "b", "c", "d"):
        engine.create_user(user)
    numbered, release = threading.Event(), threading.Event()

    def entry(a: str, b: str) -> AuditEntry:
        now = engine.clock.now()
        return AuditEntry(now, a, AuditAction.BLOCK_ADDED, a, b, PairRelation.NONE, None, "")

    def first() -> None:
        with store.write("a", "b") as tx:
            tx.add_block("a", "b", engine.clock.now())
            tx.append_audit(entry("a", "b"))
            tx.flush_audit()  # type: ignore[attr-defined]
            numbered.set()
            assert release.wait(10)

    def second() -> None:
        with store.write("c", "d") as tx:
            tx.add_block("c", "d", engine.clock.now())
            tx.append_audit(entry("c", "d"))

    writer1, _ = in_thread(first)
    assert numbered.wait(10)
    writer2, second_done = in_thread(second)
    second_done.wait(0.5)
    engine.log.publish()  # would integrate writer 2's entry here, were it committed
    release.set()
    for thread in (writer1, writer2):
        thread.join(10)
    engine.log.publish()
    assert isinstance(store, PostgresStore)
    with psycopg.connect(store.url) as conn:
        audited = [r[0] for r in conn.execute("SELECT seq FROM audit_log ORDER BY seq")]
        leaves = [r[0] for r in conn.execute(ENTRY_LEAF_SEQS)]
    assert len(audited) == 2
    assert leaves == audited


def test_an_import_waits_for_writers_in_flight_and_they_finish(pg_engine: Hushan) -> None:
    """A writer midway (a request written, an edge not yet) and an import that starts then:
    the import waits for the writer, and neither fails. (Had the import locked the tables one
    by one, it would hold `edges` waiting for `friend_requests`, and the writer the reverse.)"""
    engine, store = pg_engine, pg_engine.store
    for user in ("a", "b"):
        engine.create_user(user)
    midway, finished = threading.Event(), threading.Event()

    def writer() -> None:
        now = engine.clock.now()
        with store.write("a", "b") as tx:
            tx.put_pending_request("a", "b", "", False, now, now)
            midway.set()
            time.sleep(0.5)  # the import starts meanwhile
            tx.add_edge("a", "b", now)
            tx.set_verification("a", False)
        finished.set()

    order: list[str] = []
    writing, _ = in_thread(writer)
    assert midway.wait(10)

    def run_import() -> None:
        import_edges(engine, ["c,d", "d,c"])
        order.append("import" if finished.is_set() else "import before the writer")

    importing, imported = in_thread(run_import)
    assert imported.wait(20)
    writing.join(10)
    assert order == ["import"]
    assert engine.relation_check([("c", "d")])[0].relation is PairRelation.BOTH_WAY
    assert not engine.get_user("a").verification_required
