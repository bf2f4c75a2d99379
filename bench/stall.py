"""No stall: while each worst case runs against one `hushan serve` process, a prober keeps
asking `/healthz` and a read endpoint (a user's contact list); their p99 and every status of
500 or above are the figures.

Run `python -m bench.stall --backend sqlite` (or `postgres`; `--quick` for a small run;
`--only erasure_of_a_big_account ...` for some cases). The server runs without its worker
(`--no-sweep`), so the transparency log's backlog stays as the import left it, except for the
erasure: a `hushan worker` runs beside it for that case, as `serve` starts one, and the API
hands it the job (`HUSHAN_ERASURES_IN_WORKER=true`). The worst cases, one after another:
1. a certificate right after `hushan import` of 100,000 pairs (300,000 audit entries to log);
2. erasing a user with 5,000 contacts (in the worker, which also logs the backlog meanwhile);
3. another process holding the write lock for 15 s (SQLite's file lock; on PostgreSQL a
   bulk import's lock, which every writer takes shared) while writes keep coming;
4. relation checks of 1,000 pairs, back to back.
Limits: `/healthz` p99 < 50 ms, the read p99 < 100 ms, no status of 500 or above (a `503
busy` for a write that could not get the lock is the intended answer, and is counted apart).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.engine import ADMIN_KEY, log, require, serving
from bench.scale import (
    Databases,
    add_backend_options,
    engine_for,
    key_file,
    percentile,
    work_directory,
)
from hushan.crypto import load_or_create_deployment_key
from hushan.importer import import_edges
from hushan.store.postgres import WRITERS_LOCK

MAX_HEALTH_P99_MS = 50.0
MAX_READ_P99_MS = 100.0
PROBE_INTERVAL = 0.01


class Prober:
    """Asks /healthz and a contact list in turn, every PROBE_INTERVAL, until stopped."""

    def __init__(self, url: str, user: str, token: str) -> None:
        self.url, self.user, self.token = url, user, token
        self.health: list[float] = []
        self.read: list[float] = []
        self.statuses: Counter[int] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _probe(self) -> None:
        auth = {"authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self._stop.is_set():
                for path, times in (
                    ("/healthz", self.health),
                    (f"/v1/users/{self.user}/contacts", self.read),
                ):
                    start = time.perf_counter()
                    status = client.get(path, headers=auth).status_code
                    times.append((time.perf_counter() - start) * 1000)
                    self.statuses[status] += 1
                self._stop.wait(PROBE_INTERVAL)

    def figures(self) -> dict[str, Any]:
        health, read = percentile(self.health, 99), percentile(self.read, 99)
        failures = sum(n for status, n in self.statuses.items() if status >= 500)
        return {
            "probes": len(self.health),
            "healthz_p99_ms": round(health, 1),
            "read_p99_ms": round(read, 1),
            "statuses_500_or_above": failures,
            "ok": health < MAX_HEALTH_P99_MS and read < MAX_READ_P99_MS and failures == 0,
        }


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scenario(
    url: str,
    pid: int,
    prober_user: tuple[str, str],
    work: Callable[[httpx.Client], dict[str, Any]],
) -> dict[str, Any]:
    """The case's figures, with the CPU the API process spent meanwhile (the probes' share
    included): CPU it spends is time its event loop may wait for the interpreter lock."""
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    with (
        httpx.Client(base_url=url, timeout=300, headers=headers) as client,
        Prober(url, *prober_user) as prober,
    ):
        time.sleep(0.2)  # a baseline before the worst case starts
        cpu = cpu_seconds(pid)
        outcome = work(client)
        cpu = cpu_seconds(pid) - cpu
        time.sleep(0.2)
    return {**outcome, "serve_cpu_seconds": round(cpu, 1), **prober.figures()}


def hold_write_lock(database: str, seconds: float) -> threading.Thread:
    def hold() -> None:
        if database.startswith("sqlite:///"):
            conn = sqlite3.connect(database.removeprefix("sqlite:///"), isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            time.sleep(seconds)
            conn.execute("ROLLBACK")
            conn.close()
        else:
            with psycopg.connect(database) as pg:
                pg.execute("SELECT pg_advisory_xact_lock(%s)", (WRITERS_LOCK,))
                time.sleep(seconds)

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


@contextlib.contextmanager
def worker_beside(url: str, work: Path) -> Iterator[None]:
    """A `hushan worker` on the database, for as long as the case runs."""
    argv = [sys.executable, "-m", "hushan.cli", "worker", "--interval", "3600"]
    with (work / "worker.log").open("ab") as out:
        env = {**os.environ, "HUSHAN_DATABASE_URL": url}
        child = subprocess.Popen(argv, env=env, cwd=work, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        child.terminate()
        child.wait()


CASES = (
    "certificate_after_import",
    "erasure_of_a_big_account",
    "write_lock_held_elsewhere",
    "relation_checks",
)


def run(backend: str, work: Path, quick: bool, only: Sequence[str] = CASES) -> dict[str, Any]:
    pairs, contacts, lock_seconds, rounds = (
        (5_000, 500, 3.0, 10) if quick else (100_000, 5_000, 15.0, 100)
    )
    databases = Databases(backend, work)
    results: dict[str, Any] = {}
    try:
        url = databases.new("stall")
        engine = engine_for(url, load_or_create_deployment_key(key_file(work, url)))
        try:
            log(f"stall: importing {pairs:,} pairs and a user with {contacts:,} contacts")
            lines = [f"p{n:06d},q{n:06d}" for n in range(pairs)]
            lines += [f"q{n:06d},p{n:06d}" for n in range(pairs)]
            lines += [f"big,k{n:05d}" for n in range(contacts)]
            lines += [f"k{n:05d},big" for n in range(contacts)]
            import_edges(engine, lines)
            big_token = engine.issue_token("big")
            prober = ("p000000", engine.issue_token("p000000"))
            writer = ("p000001", engine.issue_token("p000001"))
        finally:
            engine.store.close()
        argv = [sys.executable, "-m", "hushan.cli", "serve", "--no-sweep"]
        env = {
            "HUSHAN_DATABASE_URL": url,
            "HUSHAN_ADMIN_KEY": ADMIN_KEY,
            "HUSHAN_ERASURES_IN_WORKER": "true",
        }
        with serving(argv, work / "serve.log", env, cwd=work) as server:

            def certificate(client: httpx.Client) -> dict[str, Any]:
                reply = client.post(
                    "/v1/users/p000000/certificates",
                    json={"other": "q000000"},
                    headers={"authorization": f"Bearer {prober[1]}"},
                )
                return {"certificate_status": reply.status_code}

            def erasure(client: httpx.Client) -> dict[str, Any]:
                with worker_beside(url, work):
                    time.sleep(3)  # the worker is up (and logging the import's backlog)
                    start = time.perf_counter()
                    reply = client.delete(
                        "/v1/users/big", headers={"authorization": f"Bearer {big_token}"}
                    )
                    while client.get("/v1/admin/erasures/big").json()["status"] == "erasing":
                        time.sleep(0.1)
                    seconds = time.perf_counter() - start
                return {"erasure_status": reply.status_code, "erasure_seconds": round(seconds, 1)}

            def held_lock(client: httpx.Client) -> dict[str, Any]:
                holder = hold_write_lock(url, lock_seconds)
                statuses: Counter[int] = Counter()
                auth = {"authorization": f"Bearer {writer[1]}"}
                while holder.is_alive():
                    body = {"to": "p000002", "message": "hi"}
                    statuses[
                        client.post(
                            f"/v1/users/{writer[0]}/requests", json=body, headers=auth
                        ).status_code
                    ] += 1
                holder.join()
                return {"lock_seconds": lock_seconds, "write_statuses": dict(statuses)}

            def relation_checks(client: httpx.Client) -> dict[str, Any]:
                batch = {"pairs": [{"a": f"p{n:06d}", "b": f"q{n:06d}"} for n in range(1000)]}
                start = time.perf_counter()
                for _ in range(rounds):
                    require(
                        client.post("/v1/admin/relations/check", json=batch).status_code == 200,
                        "check",
                    )
                return {"checks": rounds, "check_seconds": round(time.perf_counter() - start, 1)}

            cases: Sequence[tuple[str, Callable[[httpx.Client], dict[str, Any]]]] = (
                ("certificate_after_import", certificate),
                ("erasure_of_a_big_account", erasure),
                ("write_lock_held_elsewhere", held_lock),
                ("relation_checks", relation_checks),
            )
            for name, case in cases:
                if name not in only:
                    continue
                log(f"stall: {name}")
                results[name] = scenario(server.url, server.process.pid, prober, case)
    finally:
        if backend == "postgres":
            databases.drop()
    return {
        "bench": "stall",
        "backend": backend,
        "quick": quick,
        "pairs": pairs,
        "limits": {"healthz_p99_ms": MAX_HEALTH_P99_MS, "read_p99_ms": MAX_READ_P99_MS},
        **results,
        "ok": all(r["ok"] for r in results.values()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stall", description=__doc__)
    add_backend_options(parser)
    parser.add_argument("--only", nargs="+", choices=CASES, default=CASES, help="these cases")
    args = parser.parse_args(argv)
    with work_directory() as work:
        result = run(args.backend, work, args.quick, args.only)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
