"""The posts feed's benchmark: one JSON line per backend, the figure beside its limit.

Run `python -m bench.posts --backend sqlite` and `--backend postgres` (`make bench` runs both).
A viewer has 5,000 friends (loaded by the bulk import), each with 50 posts (250,000 rows,
loaded straight into the table as a fixture). The figure is the first page of the viewer's
feed (20 posts), timed over repeated calls after a warm-up. Limit: under 50 ms.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from bench.engine import log, require
from bench.scale import Databases, engine_for, percentile, run_on_backend
from hushan.clock import ManualClock, to_micros
from hushan.importer import import_edges

FRIENDS = 5000
POSTS_EACH = 50
PAGE = 20
RUNS = 200
MAX_FIRST_PAGE_MS = 50.0


def load_posts(url: str, friends: int, each: int) -> None:
    at = to_micros(ManualClock().now())
    # Interleaved, as posting is: friend after friend, round after round.
    rows = [
        (f"f{n:05d}", f"post {k} of f{n:05d}", "all", at + k * friends + n)
        for k in range(each)
        for n in range(friends)
    ]
    sql = "INSERT INTO posts (author_id, body, audience, created_at) VALUES (?, ?, ?, ?)"
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        with conn:
            conn.executemany(sql, rows)
        conn.execute("ANALYZE")
        conn.close()
        return
    with psycopg.connect(url, autocommit=True) as pg:
        with pg.cursor() as cursor:
            columns = "(author_id, body, audience, created_at)"
            with cursor.copy(f"COPY posts {columns} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        pg.execute("VACUUM (ANALYZE) posts")


def run(backend: str, work: Path, quick: bool) -> dict[str, Any]:
    databases = Databases(backend, work)
    friends, each = (500, 10) if quick else (FRIENDS, POSTS_EACH)
    try:
        url = databases.new("posts")
        engine = engine_for(url, os.urandom(32))
        try:
            log(f"posts: {friends} friends of the viewer")
            lines = [f"me,f{n:05d}" for n in range(friends)] + [
                f"f{n:05d},me" for n in range(friends)
            ]
            import_edges(engine, lines)
            log(f"posts: {friends * each} posts")
            load_posts(url, friends, each)
            first = engine.feed("me", limit=PAGE)
            require(len(first) == PAGE, "the first page is full")
            require(first[0].author == f"f{friends - 1:05d}", "newest first")
            log(f"posts: first page, {RUNS} runs after a warm-up")
            for _ in range(20):
                engine.feed("me", limit=PAGE)
            samples = []
            for _ in range(RUNS):
                start = time.perf_counter()
                engine.feed("me", limit=PAGE)
                samples.append((time.perf_counter() - start) * 1000)
        finally:
            engine.store.close()
    finally:
        if backend == "postgres":
            databases.drop()
    worst = max(samples)
    return {
        "bench": "posts",
        "backend": backend,
        "quick": quick,
        "friends": friends,
        "posts": friends * each,
        "first_page_ms": {
            "p50": round(statistics.median(samples), 3),
            "p99": round(percentile(samples, 99), 3),
            "max": round(worst, 3),
            "limit_max_ms": MAX_FIRST_PAGE_MS,
            "ok": worst < MAX_FIRST_PAGE_MS,
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    return run_on_backend("python -m bench.posts", __doc__, argv, run)


if __name__ == "__main__":
    sys.exit(main())
