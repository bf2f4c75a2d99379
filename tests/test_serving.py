"""The serving layer (docs/architecture.md): engine work never runs on the event loop, a write
that cannot get its turn answers `503 busy` with `Retry-After` and changes nothing, heavy work
is bounded (certificates, erasures), and the engine pool's queue is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hushan.api.offload import EnginePool, PoolLimits
from hushan.domain.errors import Busy
from hushan.store.postgres import lock_key
from tests.api_client import Api, User, expect_error
from tests.conftest import BACKENDS, backend_env, served
from tests.server import Server, children

BUSY_TIMEOUT = 1.0


@pytest.fixture(scope="module", params=BACKENDS)
def busy_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server that gives up on a lock after BUSY_TIMEOUT seconds."""
    timeout = {"HUSHAN_BUSY_TIMEOUT_SECONDS": str(BUSY_TIMEOUT)}
    yield from served(request, tmp_path_factory, "busy", "--no-sweep", **timeout)


def hold_write_lock(server: Server, user: str, seconds: float) -> threading.Thread:
    """Another process's connection holds the write lock that `user`'s writes need."""
    started = threading.Event()

    def hold() -> None:
        url = server.env.get("HUSHAN_DATABASE_URL")
        if url is None:  # SQLite: the file's write lock
            lite = sqlite3.connect(server.db, isolation_level=None)
            lite.execute("BEGIN IMMEDIATE")
            started.set()
            time.sleep(seconds)
            lite.execute("ROLLBACK")
            lite.close()
        else:  # PostgreSQL: the user's advisory lock
            with psycopg.connect(url) as pg:
                pg.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(user),))
                started.set()
                time.sleep(seconds)

    thread = threading.Thread(target=hold)
    thread.start()
    assert started.wait(10)
    return thread


def test_a_write_that_cannot_get_its_turn_answers_busy_and_nothing_stalls(
    busy_server: Server,
) -> None:
    with Api(busy_server.url) as api:
        a, b = api.users("a", "b")
        holder = hold_write_lock(busy_server, a.id, 5 * BUSY_TIMEOUT)
        try:
            start = time.monotonic()
            refused = api.call(
                "POST", f"/v1/users/{a.id}/requests", a, json={"to": b.id, "message": "hi"}
            )
            waited = time.monotonic() - start
            expect_error(refused, 503, "busy")
            assert refused.headers["retry-after"] == "1"
            assert BUSY_TIMEOUT * 0.8 <= waited < BUSY_TIMEOUT * 2.5, waited
            # Meanwhile the process answers what needs no write lock: while the lock is still
            # held, so no answer waited for it (a loaded machine's slowness cannot fake that).
            for path in ("/healthz", f"/v1/users/{a.id}/contacts"):
                assert api.call("GET", path, a).status_code == 200
                assert holder.is_alive(), f"{path} answered only once the lock was let go"
        finally:
            holder.join()
        # The refused write changed nothing; once the lock is free it goes through.
        assert api.requests(b) == []
        assert api.send_request(a, b.id, "hi") == "pending"


def test_a_slow_engine_call_does_not_hold_up_the_event_loop(api: Api) -> None:
    """A relation check of the most pairs a call takes keeps a pool thread busy, while the
    loop goes on answering /healthz."""
    pairs = [{"a": f"nobody{n}", "b": f"none{n}"} for n in range(1000)]
    done = threading.Event()
    timings: list[float] = []

    def checks() -> None:
        with Api(api.url) as other:
            while not done.is_set():
                other.ok("POST", "/v1/admin/relations/check", admin=True, json={"pairs": pairs})

    worker = threading.Thread(target=checks)
    worker.start()
    try:
        for _ in range(50):
            start = time.monotonic()
            assert api.call("GET", "/healthz").status_code == 200
            timings.append(time.monotonic() - start)
    finally:
        done.set()
        worker.join()
    assert sorted(timings)[len(timings) // 2] < 0.05, timings


def test_the_pools_queue_is_bounded() -> None:
    async def scenario() -> None:
        pool = EnginePool(PoolLimits(threads=1, max_pending=1))
        release = threading.Event()
        try:
            running = asyncio.ensure_future(pool.run(release.wait, 10))
            waiting = asyncio.ensure_future(pool.run(lambda: "second"))
            await asyncio.sleep(0.05)
            assert pool.in_flight == 2
            with pytest.raises(Busy):
                await pool.run(lambda: "third")
            release.set()
            assert await running is True and await waiting == "second"
            assert pool.in_flight == 0
        finally:
            release.set()
            pool.close()

    asyncio.run(scenario())


BIG = "big-account"


def contacts_for(environment: dict[str, str]) -> int:
    """Enough contacts that erasing them takes over a second: SQLite erases faster."""
    return 600 if "HUSHAN_DATABASE_URL" in environment else 4000


@pytest.fixture(params=BACKENDS)
def backend_environment(request: pytest.FixtureRequest) -> dict[str, str]:
    """A server's environment on each backend (on PostgreSQL, a database of its own)."""
    return backend_env(request)


def big_account(api: Api, server: Server, contacts: int) -> User:
    """BIG, with `contacts` contacts, bulk-loaded by `hushan import` beside the server."""
    big = api.create_user(BIG)
    server.import_edges("edges.csv", [f"{BIG},c{n:05d}" for n in range(contacts)])
    return big


def count(server: Server, sql: str) -> int:
    """One number read from the server's database, by another connection."""
    url = server.env.get("HUSHAN_DATABASE_URL")
    if url is None:
        with contextlib.closing(sqlite3.connect(server.db)) as lite:
            return int(lite.execute(sql).fetchone()[0])
    with psycopg.connect(url) as pg:
        row = pg.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


def left_of(server: Server, user: str) -> int:
    """The user's edges left, and whether their erasure is still pending."""
    edges = f"SELECT count(*) FROM edges WHERE owner_id = '{user}' OR contact_id = '{user}'"
    pending = f"SELECT count(*) FROM erasures WHERE user_id = '{user}'"
    return count(server, edges) + count(server, pending)


def wait_erased(api: Api, user: str, seconds: float) -> None:
    status = f"/v1/admin/erasures/{user}"
    deadline = time.monotonic() + seconds
    while api.ok("GET", status, admin=True)["status"] == "erasing":
        assert time.monotonic() < deadline
        time.sleep(0.2)


@pytest.mark.long
@pytest.mark.parametrize("worker", [True, False], ids=["worker", "no-sweep"])
def test_a_large_erasure_runs_as_a_job(
    tmp_path: Path, backend_environment: dict[str, str], worker: bool
) -> None:
    """An erasure not done within a second answers 202 `erasing`; the admin sees it pending
    until it is done, and then nothing of the account is left. `serve` hands it to its worker;
    with `--no-sweep` (no worker) the API process does it itself."""
    options = () if worker else ("--no-sweep",)
    server = Server(tmp_path, *options, **backend_environment).start()
    try:
        with Api(server.url) as api:
            big = big_account(api, server, contacts_for(server.env))
            erased = api.call("DELETE", f"/v1/users/{big.id}", big)
            assert (erased.status_code, erased.json()) == (202, {"status": "erasing"})
            expect_error(
                api.call("GET", f"/v1/users/{big.id}/contacts", big), 401, "unauthenticated"
            )
            status = f"/v1/admin/erasures/{big.id}"
            assert api.ok("GET", status, admin=True)["status"] == "erasing"
            wait_erased(api, big.id, 120)
            assert api.relation(big.id, "c00000") == "none"
            assert left_of(server, big.id) == 0
            # A small one is done within the second (the worker, if any, is up by now).
            small, other = api.users("small", "other")
            api.befriend(small, other)
            assert api.ok("DELETE", f"/v1/users/{small.id}", small) == {"status": "erased"}
            assert api.contacts(other) == [] and left_of(server, small.id) == 0
    finally:
        server.stop()


@pytest.mark.long
def test_an_erasure_whose_worker_was_killed_is_finished_by_the_next(
    tmp_path: Path, backend_environment: dict[str, str]
) -> None:
    """kill -9 of serve's worker mid-erasure: nothing goes on meanwhile (the API leaves the
    job to the worker), serve starts another worker, which takes the erasure over once the
    dead one's claim lapses, and finishes it."""
    lease = 4.0
    environment = {**backend_environment, "HUSHAN_ERASURE_LEASE_SECONDS": str(lease)}
    server = Server(tmp_path, **environment).start()
    try:
        assert server.process is not None
        with Api(server.url) as api:
            big = big_account(api, server, contacts_for(server.env))
            full = left_of(server, big.id)
            erased = api.call("DELETE", f"/v1/users/{big.id}", big)
            assert erased.status_code == 202, erased.text
            deadline = time.monotonic() + 60
            [first] = children(server.process.pid)
            while left_of(server, big.id) > full - 5:  # under way (+1: the erasure's row)
                assert time.monotonic() < deadline
                time.sleep(0.01)
            os.kill(first, signal.SIGKILL)
            time.sleep(0.2)
            cut_short = left_of(server, big.id)
            assert 1 <= cut_short < full  # still pending
            time.sleep(lease / 2)
            assert left_of(server, big.id) == cut_short  # nobody erases: its claim holds
            assert children(server.process.pid) not in ([], [first])  # started again
            wait_erased(api, big.id, 120)
            assert api.relation(big.id, "c00000") == "none"
            assert left_of(server, big.id) == 0
            assert "worker exited" in server.log()
    finally:
        server.stop()
