"""The serving layer (docs/architecture.md): engine work never runs on the event loop, a write
that cannot get its turn answers `503 busy` with `Retry-After` and changes nothing, heavy work
is bounded (certificates, erasures), and the engine pool's queue is bounded."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hushan.api.offload import EnginePool, PoolLimits
from hushan.domain.errors import Busy, LogBehind
from hushan.importer import import_edges
from hushan.service import Hushan
from hushan.store.postgres import lock_key
from hushan.tlog import log as tlog_log
from hushan.tlog.certificate import LegalBasis, verify
from tests.api_client import Api, expect_error
from tests.conftest import BACKENDS, served
from tests.drive import befriend
from tests.server import Server

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
        holder = hold_write_lock(busy_server, a.id, 3 * BUSY_TIMEOUT)
        try:
            start = time.monotonic()
            refused = api.call(
                "POST", f"/v1/users/{a.id}/requests", a, json={"to": b.id, "message": "hi"}
            )
            waited = time.monotonic() - start
            expect_error(refused, 503, "busy")
            assert refused.headers["retry-after"] == "1"
            assert BUSY_TIMEOUT * 0.8 <= waited < BUSY_TIMEOUT * 2.5, waited
            # Meanwhile the process answers what needs no write lock, at once.
            for path in ("/healthz", f"/v1/users/{a.id}/contacts"):
                start = time.monotonic()
                assert api.call("GET", path, a).status_code == 200
                assert time.monotonic() - start < 0.5, path
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


def test_a_certificate_never_integrates_a_large_backlog(
    engine: Hushan, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over what a request may integrate itself, a certificate answers `log_behind` until
    the worker has caught up; then it is issued and verifies."""
    engine.log.batch = 10
    monkeypatch.setattr(tlog_log, "CERTIFICATE_CATCH_UP", 20)
    import_edges(engine, [f"u{n},v{n}" for n in range(40)])  # 40 pairs: 120 entries
    befriend(engine, "A", "B")
    with pytest.raises(LogBehind):
        engine.log.certificate("A", "B", LegalBasis.USER_REQUEST)
    engine.log.publish()  # the worker's part
    issued = engine.log.certificate("A", "B", LegalBasis.USER_REQUEST)
    verify(issued, engine.log.signer.verifier)


def test_a_backlog_a_request_may_take_is_integrated_by_it(
    engine: Hushan, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.log.batch = 10
    monkeypatch.setattr(tlog_log, "CERTIFICATE_CATCH_UP", 40)
    import_edges(engine, [f"u{n},v{n}" for n in range(10)])  # 30 entries
    befriend(engine, "A", "B")
    verify(engine.log.certificate("A", "B", LegalBasis.USER_REQUEST), engine.log.signer.verifier)


def test_a_large_erasure_runs_as_a_job(tmp_path: Path) -> None:
    """An erasure not done within a second answers 202 `erasing`; the admin sees it pending
    until it is done, and then nothing of the account is left."""
    server = Server(tmp_path, "--no-sweep").start()
    try:
        with Api(server.url) as api:
            big = api.create_user("big-account")
            lines = [f"big-account,c{n:05d}" for n in range(2000)]
            (tmp_path / "edges.csv").write_text("\n".join(lines) + "\n")
            imported = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "hushan.cli",
                    "import",
                    str(tmp_path / "edges.csv"),
                    "--db",
                    str(server.db),
                ],
                env=server.env,
                capture_output=True,
                text=True,
            )
            assert imported.returncode == 0, imported.stdout + imported.stderr
            erased = api.call("DELETE", f"/v1/users/{big.id}", big)
            assert (erased.status_code, erased.json()) == (202, {"status": "erasing"})
            expect_error(
                api.call("GET", f"/v1/users/{big.id}/contacts", big), 401, "unauthenticated"
            )
            status = f"/v1/admin/erasures/{big.id}"
            assert api.ok("GET", status, admin=True)["status"] == "erasing"
            deadline = time.monotonic() + 120
            while api.ok("GET", status, admin=True)["status"] == "erasing":
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert api.relation(big.id, "c00000") == "none"
    finally:
        server.stop()
