"""PostgreSQL's connections come from one bounded pool per store (`hushan.store.postgres_pool`):
it never holds more than its size, replaces a connection the server dropped, and a transaction
that gets no connection in time answers `busy` (the server is up; through the API as any other
`503 busy`) or `database_unavailable` (it is not)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from hushan.api.app import create_app
from hushan.config import Settings
from hushan.domain.errors import Busy, DatabaseUnavailable
from hushan.store import postgres_pool
from hushan.store.postgres import PostgresStore
from tests.conftest import POSTGRES, engine_on

pytestmark = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL is not reachable")

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/hushan"  # nothing listens on port 1
ADMIN = "admin-key"


@pytest.fixture
def url(new_pg_database: Callable[[], str]) -> str:
    """A database of this test's own, so that every connection to it is the store's."""
    return new_pg_database()


@pytest.fixture
def store_of(url: str) -> Iterator[Callable[..., PostgresStore]]:
    made: list[PostgresStore] = []

    def make(pool_size: int, busy_timeout: float = 5.0) -> PostgresStore:
        made.append(PostgresStore(url, busy_timeout, pool_size))
        return made[-1]

    yield make
    for store in made:
        store.close()


OBSERVER = "hushan-test-observer"  # the application name of the connections that count


def server_connections(url: str) -> list[int]:
    """The backend pids of the connections to `url`'s database, but those that count them
    (several may be counting at once)."""
    with psycopg.connect(url, autocommit=True, application_name=OBSERVER) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name <> %s",
            (OBSERVER,),
        ).fetchall()
    return [int(r[0]) for r in rows]


def holding(store: PostgresStore, release: threading.Event) -> threading.Thread:
    """A thread that holds one of the store's connections (in a read) until `release`."""
    taken = threading.Event()

    def hold() -> None:
        with store.read() as tx:
            tx.get_user("anyone")
            taken.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(10)
    return thread


def test_the_pool_never_holds_more_connections_than_its_size(
    url: str, store_of: Callable[..., PostgresStore]
) -> None:
    store = store_of(pool_size=2)
    inside, most, lock = 0, 0, threading.Lock()
    seen: list[int] = []

    def read() -> None:
        nonlocal inside, most
        with store.read() as tx:
            tx.get_user("anyone")
            with lock:
                inside += 1
                most = max(most, inside)
            seen.append(len(server_connections(url)))
            time.sleep(0.1)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(seen) == 8  # each waited its turn, none failed
    assert most == 2
    assert max(seen) <= 2
    assert store.connections.stats()["pool_max"] == 2


def test_a_connection_the_server_dropped_is_replaced(
    url: str, store_of: Callable[..., PostgresStore]
) -> None:
    store = store_of(pool_size=1)
    with store.read() as tx:
        tx.get_user("anyone")
    (first,) = server_connections(url)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (first,))
    # Ended, not only told to end: the server has said goodbye on the connection's socket.
    deadline = time.monotonic() + 10
    while first in server_connections(url) and time.monotonic() < deadline:
        time.sleep(0.01)
    # The idle connection fails the pool's check before it is lent, though it was used a
    # moment ago: the next transaction gets a new one, where it would have failed on the
    # dropped one.
    with store.read() as tx:
        assert tx.get_user("anyone") is None
    (second,) = server_connections(url)
    assert second != first
    assert store.connections.stats()["connections_lost"] >= 1


def test_only_a_connection_idle_for_a_while_is_checked_with_a_round_trip(
    store_of: Callable[..., PostgresStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[object] = []
    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(checked.append))
    store = store_of(pool_size=1)
    for _ in range(3):
        with store.read() as tx:
            tx.get_user("anyone")
    assert checked == []  # each lent again at once: no round trip before its transaction
    monkeypatch.setattr(postgres_pool, "CHECK_IDLE_SECONDS", 0.005)
    for _ in range(2):
        time.sleep(0.01)
        with store.read() as tx:
            tx.get_user("anyone")
    assert len(checked) == 2  # idle past the threshold: checked before each


def test_a_transaction_that_gets_no_connection_in_time_is_busy(
    store_of: Callable[..., PostgresStore],
) -> None:
    store = store_of(pool_size=1, busy_timeout=0.3)
    release = threading.Event()
    holder = holding(store, release)
    try:
        started = time.monotonic()
        with pytest.raises(Busy), store.write("a") as tx:
            tx.get_user("a")
        assert time.monotonic() - started < 5
    finally:
        release.set()
        holder.join(10)
    with store.read() as tx:  # the connection given back serves again
        assert tx.get_user("a") is None


def test_a_server_that_cannot_be_reached_is_database_unavailable() -> None:
    store = PostgresStore(UNREACHABLE, busy_timeout=0.3, pool_size=2)
    try:
        with pytest.raises(DatabaseUnavailable), store.read() as tx:
            tx.get_user("a")
    finally:
        store.close()


def test_the_api_answers_an_exhausted_pool_busy_with_retry_after(
    store_of: Callable[..., PostgresStore],
) -> None:
    store = store_of(pool_size=1, busy_timeout=0.3)
    settings = Settings(rate_enabled=False, busy_timeout_seconds=store.busy_timeout)
    app = create_app(engine_on(store), ADMIN, settings=settings)
    release = threading.Event()

    async def ask() -> httpx.Response:
        async with (
            app.router.lifespan_context(app),  # its shutdown closes the engine pool and store
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client,
        ):
            holder = holding(store, release)
            try:
                auth = {"authorization": f"Bearer {ADMIN}"}
                return await client.get("/v1/admin/pairs/a/b", headers=auth)
            finally:
                release.set()
                holder.join(10)

    reply = asyncio.run(ask())
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "busy"
    assert reply.headers["retry-after"] == str(Busy.retry_after)
