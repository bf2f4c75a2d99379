"""The serving layer's bars (issue 11), measured from the outside: one JSON line per backend.

Run `python -m bench.serving --backend sqlite` and `--backend postgres` (`make bench` runs
both); `--quick` shrinks every size for a fast sanity check; `--only` picks figures. It needs
wrk (`apt-get install -y wrk`) and, on PostgreSQL, pgbench (`apt-get install -y
postgresql-client`); without them it says so and exits 2. PostgreSQL is reached at
HUSHAN_BENCH_POSTGRES_URL, as in bench/scale.py.

One `hushan serve` process (one API process, `--no-sweep`: no `hushan worker` beside it, so
the CPU read from /proc is the API's alone; rate limits off, as in every bench) on a new
database, and a bare ASGI hello world (bench/engine.py's) on the same uvicorn with the same
options, both up for the whole run. Every ratio is taken within one run, its two sides in
rotation, round after round; each figure carries every round's value, for the spread.

1. `concurrency`: friendship cycles over loopback, with 1 connection and with 16. A cycle is
   three writes: A's request to B (`pending`: B's verification is on), B's accept (`added`),
   A's delete (`deleted`, one-way). Each cycle takes a fresh pair, made in process before the
   server starts, so every cycle writes the same three changes (a pair once parted would be
   re-added at once, without the accept). The load runs in separate processes (at most 4
   connections each, plain `http.client` keep-alive), taking pairs from one shared counter,
   so none idles while another still has work; a run ends at its time box or when the pairs
   run out. Figures: cycles/s, cycle and request p50/p99, the server's CPU per write (utime +
   stime of `serve` and its children, from /proc), the client's CPU per cycle. Limits: 16
   connections reach 2x the cycles/s of 1; at 16, cycle p99 <= 4x cycle p50.
2. `cheap`: wrk (2 threads, 32 connections) against the relation check (10 pairs, a Lua
   script posts the body) and a message send (16 sender/receiver pairs), beside the bare app
   answering the relation check's very bytes. Limits: each >= 0.30 of the bare app's
   requests/s. Also the server CPU per request of each, from /proc.
3. `writes`: engine writes in process, no HTTP: 16 threads, each with its own pair, doing a
   one-way delete and the re-add (two transactions). On SQLite against 16 threads of plain
   sqlite3 (WAL, synchronous=NORMAL, as hushan's store) doing BEGIN IMMEDIATE; one INSERT;
   COMMIT, sharing one writer lock as hushan's store does: limit >= 0.35x. On PostgreSQL
   against `pgbench -N` with 16 clients for as long, on a throwaway database of its own:
   limit >= 0.6x. The commit batch size (writes per commit) is read from `/metrics` or the
   engine's metrics where a metric named `*batch*` exists; on PostgreSQL the commits are also
   counted (`pg_stat_database.xact_commit` per write). On SQLite the store counts its group
   commits itself (writes per commit, each round); on PostgreSQL every write is its own commit.

`--profile OUT.svg` instead records a py-spy flame graph of `serve` (attached to its pid, 1,000
samples/s, the thread holding the interpreter lock) under wrk's message sends, then a second
recording as collapsed stacks (OUT.collapsed.txt), from which it prints the CPU per request by
part of the path, beside /healthz's CPU per request and the engine calls of a send timed in
process (docs/perf/README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bench.engine import (
    HEALTHZ,
    Call,
    Server,
    WrkResult,
    admin_client,
    bare_server,
    die_with_parent,
    http_users,
    log,
    message_calls,
    probe,
    raise_on_sigterm,
    require,
    run_wrk,
    serving_database,
    small_check_call,
    wrk_json,
)
from bench.scale import (
    Databases,
    add_backend_options,
    engine_for,
    key_file,
    percentile,
    work_directory,
)
from hushan.crypto import load_or_create_deployment_key
from hushan.domain.model import RequestOutcome
from hushan.service import DeleteOutcome, Hushan
from hushan.store.sqlite import SqliteStore
from hushan.store.sqlite_writer import BATCH_BOUNDS, CommitBatches

FIGURES = ("concurrency", "cheap", "writes")
MIN_CONCURRENCY_GAIN = 2.0
MAX_P99_OVER_P50 = 4.0
MIN_CHEAP_RATIO = 0.30
MIN_SQLITE_WRITE_RATIO = 0.35
MIN_PGBENCH_RATIO = 0.6
MANY = 16  # connections of figure 1, writer threads and pgbench clients of figure 3
PER_PROCESS = 4  # load connections per load process
JSON_TYPE = {"content-type": "application/json"}


@dataclass(frozen=True, slots=True)
class Sizes:
    rounds: int  # of the wrk and the in-process figures
    cycle_rounds: int  # short and many: this machine's speed swings within seconds
    cycle_seconds: float  # time box of each cycle run (or until its pairs run out)
    pairs_one: int  # fresh pairs per run with 1 connection
    pairs_many: int  # and with MANY
    wrk_seconds: int
    write_seconds: int
    profile_seconds: int


FULL = Sizes(3, 6, 4.0, 1_000, 2_000, 5, 5, 10)
QUICK = Sizes(1, 1, 2.0, 300, 600, 2, 1, 3)


def spread(values: Sequence[float], digits: int = 3) -> list[float]:
    return [round(v, digits) for v in values]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# ---- /proc -----------------------------------------------------------------------------------
def descendants(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                found += [int(child), *descendants(int(child))]
    return found


def tree_cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and of every descendant, live or reaped by its parent."""
    ticks = 0
    for each in (pid, *descendants(pid)):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            # Fields after the command (which may hold spaces): state is field 3, utime 14.
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += sum(int(fields[n]) for n in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def implementations(pid: int) -> dict[str, str]:
    """The event loop and HTTP parser a server process has loaded (uvicorn's `auto` picks
    uvloop and httptools when installed): both servers must run the same ones."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {
        "loop": "uvloop" if "/uvloop/" in maps else "asyncio",
        "http": "httptools" if "/httptools/" in maps else "h11",
    }


# ---- commit batch sizes ----------------------------------------------------------------------
def batch_sizes(exposition: str) -> dict[str, float]:
    """Every metric whose name says `batch`: a summary or histogram gives its mean (sum over
    count), anything else its value."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        if "batch" not in family.name:
            continue
        sums = {s.name: s.value for s in family.samples if s.name.endswith(("_sum", "_count"))}
        count = sums.get(f"{family.name}_count")
        if count:
            found[family.name + "_mean"] = sums[f"{family.name}_sum"] / count
        else:
            for sample in family.samples:
                found[sample.name] = sample.value
    return found


def batch_report(found: dict[str, float], source: str) -> dict[str, Any]:
    if found:
        return {"source": source, **{k: round(v, 3) for k, v in found.items()}}
    return {"source": f"no metric named *batch* in {source}: one commit per write", "size": 1}


def metrics_text(server: Server) -> str:
    with admin_client(server) as client:
        reply = client.get("/metrics")
    require(reply.status_code == 200, f"/metrics -> {reply.status_code}")
    return reply.text


# ---- 1. friendship cycles over HTTP ----------------------------------------------------------
Pair = tuple[str, str, str, str]  # requester, their token, accepter, their token


def make_pairs(engine: Hushan, prefix: str, count: int) -> list[Pair]:
    """Fresh pairs of strangers, both with verification on (the default), made by 8 threads
    (each user is a commit: on PostgreSQL one at a time would take minutes)."""

    def pair(n: int) -> Pair:
        a, b = f"{prefix}{n:05d}a", f"{prefix}{n:05d}b"
        return a, engine.create_user(a)[1], b, engine.create_user(b)[1]

    with ThreadPoolExecutor(8, thread_name_prefix="bench-users") as makers:
        return list(makers.map(pair, range(count)))


@dataclass(slots=True)
class LoadStats:
    cycles: int = 0
    cycle_ms: list[float] | None = None
    request_ms: list[float] | None = None
    statuses: Counter[str] | None = None
    first_start: float = float("inf")
    last_end: float = 0.0


def call(conn: http.client.HTTPConnection, method: str, path: str, token: str, body: str) -> str:
    """One request on a keep-alive connection; `STATUS:reply-status`."""
    headers = {"authorization": f"Bearer {token}"}
    if body:
        headers |= JSON_TYPE
    conn.request(method, path, body=body or None, headers=headers)
    reply = conn.getresponse()
    data = reply.read()
    status = json.loads(data).get("status", "") if reply.status == 200 else ""
    return f"{reply.status}:{status}"


EXPECTED = ("200:pending", "200:added", "200:deleted")


def connection_loop(
    address: tuple[str, int],
    pairs: Sequence[Pair],
    next_pair: Synchronized[int],
    deadline: float,
    stats: LoadStats,
) -> None:
    conn = http.client.HTTPConnection(*address, timeout=60)
    cycle_ms: list[float] = []
    request_ms: list[float] = []
    statuses: Counter[str] = Counter()
    try:
        while time.monotonic() < deadline:
            with next_pair.get_lock():
                n = next_pair.value
                next_pair.value = n + 1
            if n >= len(pairs):
                break
            a, a_token, b, b_token = pairs[n]
            steps = (
                ("POST", f"/v1/users/{a}/requests", a_token, json.dumps({"to": b})),
                ("POST", f"/v1/users/{b}/requests/{a}/accept", b_token, ""),
                ("DELETE", f"/v1/users/{a}/contacts/{b}", a_token, ""),
            )
            start = time.monotonic()
            stats.first_start = min(stats.first_start, start)
            done = True
            for (method, path, token, body), expected in zip(steps, EXPECTED, strict=True):
                before = time.monotonic()
                answer = call(conn, method, path, token, body)
                request_ms.append((time.monotonic() - before) * 1000)
                statuses[answer] += 1
                if answer != expected:
                    done = False
                    break
            end = time.monotonic()
            stats.last_end = end
            if done:
                stats.cycles += 1
                cycle_ms.append((end - start) * 1000)
    finally:
        conn.close()
        stats.cycle_ms, stats.request_ms, stats.statuses = cycle_ms, request_ms, statuses


def load_process(
    address: tuple[str, int],
    pairs: Sequence[Pair],
    connections: int,
    seconds: float,
    next_pair: Synchronized[int],
    barrier: Barrier,
    results: Queue[dict[str, Any]],
) -> None:
    """One load process: `connections` threads, each one keep-alive connection, started when
    every load process is ready."""
    barrier.wait()
    cpu_start = time.process_time()
    deadline = time.monotonic() + seconds
    stats = [LoadStats() for _ in range(connections)]
    threads = [
        threading.Thread(target=connection_loop, args=(address, pairs, next_pair, deadline, s))
        for s in stats
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses: Counter[str] = Counter()
    for s in stats:
        statuses.update(s.statuses or {})
    results.put(
        {
            "cycles": sum(s.cycles for s in stats),
            "cycle_ms": [ms for s in stats for ms in s.cycle_ms or []],
            "request_ms": [ms for s in stats for ms in s.request_ms or []],
            "statuses": dict(statuses),
            "first_start": min(s.first_start for s in stats),
            "last_end": max(s.last_end for s in stats),
            "cpu_s": time.process_time() - cpu_start,
        }
    )


@dataclass(frozen=True, slots=True)
class CycleRun:
    connections: int
    cycles: int
    seconds: float
    cycle_ms: list[float]
    request_ms: list[float]
    statuses: dict[str, int]
    server_cpu_s: float
    client_cpu_s: float
    pairs_left: bool

    @property
    def per_second(self) -> float:
        return self.cycles / self.seconds

    @property
    def requests(self) -> int:
        return len(self.request_ms)

    @property
    def unexpected(self) -> int:
        return sum(n for answer, n in self.statuses.items() if answer not in EXPECTED)


def cycle_run(server: Server, pairs: list[Pair], connections: int, seconds: float) -> CycleRun:
    context = multiprocessing.get_context("spawn")
    processes = -(-connections // PER_PROCESS)
    next_pair: Synchronized[int] = context.Value("q", 0)
    barrier = context.Barrier(processes + 1)
    results: Queue[dict[str, Any]] = context.Queue()
    split = urlsplit(server.url)
    address = (split.hostname or "127.0.0.1", split.port or 80)
    shares = [connections // processes + (k < connections % processes) for k in range(processes)]
    workers = [
        context.Process(
            target=load_process,
            args=(address, pairs, share, seconds, next_pair, barrier, results),
            daemon=True,
        )
        for share in shares
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=120)
    cpu_before = tree_cpu_seconds(server.process.pid)
    found = [results.get(timeout=seconds + 120) for _ in workers]
    cpu_after = tree_cpu_seconds(server.process.pid)
    for worker in workers:
        worker.join(timeout=30)
    statuses: Counter[str] = Counter()
    for f in found:
        statuses.update(f["statuses"])
    return CycleRun(
        connections=connections,
        cycles=sum(f["cycles"] for f in found),
        seconds=max(f["last_end"] for f in found) - min(f["first_start"] for f in found),
        cycle_ms=[ms for f in found for ms in f["cycle_ms"]],
        request_ms=[ms for f in found for ms in f["request_ms"]],
        statuses=dict(statuses),
        server_cpu_s=cpu_after - cpu_before,
        client_cpu_s=sum(f["cpu_s"] for f in found),
        pairs_left=next_pair.value < len(pairs),
    )


def cycle_json(run: CycleRun) -> dict[str, Any]:
    writes = 3 * run.cycles
    return {
        "cycles_per_s": round(run.per_second, 1),
        "cycles": run.cycles,
        "seconds": round(run.seconds, 2),
        "ended_by": "time box" if run.pairs_left else "pairs used up",
        "cycle_p50_ms": round(median(run.cycle_ms), 2),
        "cycle_p99_ms": round(percentile(run.cycle_ms, 99), 2),
        "request_p50_ms": round(median(run.request_ms), 2),
        "request_p99_ms": round(percentile(run.request_ms, 99), 2),
        "server_cpu_ms_per_write": round(1000 * run.server_cpu_s / writes, 3),
        "server_cpu_ms_per_cycle": round(1000 * run.server_cpu_s / run.cycles, 3),
        "client_cpu_ms_per_cycle": round(1000 * run.client_cpu_s / run.cycles, 3),
        "unexpected_replies": run.unexpected,
        "statuses": run.statuses,
    }


def concurrency_figure(
    server: Server, pairs: dict[int, list[list[Pair]]], sizes: Sizes
) -> dict[str, Any]:
    runs: dict[int, list[CycleRun]] = {1: [], MANY: []}
    before = metrics_text(server)
    for round_ in range(sizes.cycle_rounds):
        for connections in (1, MANY):
            log(f"1. cycles: round {round_ + 1}/{sizes.cycle_rounds}, {connections} connection(s)")
            found = cycle_run(server, pairs[connections][round_], connections, sizes.cycle_seconds)
            require(found.cycles > 0, f"cycles ran: {found.statuses}")
            runs[connections].append(found)
    after = metrics_text(server)
    gains = [m.per_second / o.per_second for o, m in zip(runs[1], runs[MANY], strict=True)]
    tails = [percentile(m.cycle_ms, 99) / median(m.cycle_ms) for m in runs[MANY]]
    gain, tail = median(gains), median(tails)
    clean = all(r.unexpected == 0 for rs in runs.values() for r in rs)
    return {
        "cycle": "request (pending), accept (added), delete (one-way): 3 writes, a fresh pair each",
        "rounds": sizes.cycle_rounds,
        "time_box_s": sizes.cycle_seconds,
        "one_connection": [cycle_json(r) for r in runs[1]],
        f"{MANY}_connections": [cycle_json(r) for r in runs[MANY]],
        "gain": round(gain, 3),
        "gain_each_round": spread(gains),
        "limit_min_gain": MIN_CONCURRENCY_GAIN,
        f"cycle_p99_over_p50_at_{MANY}": round(tail, 3),
        "p99_over_p50_each_round": spread(tails),
        "limit_max_p99_over_p50": MAX_P99_OVER_P50,
        # Not judged: the tail at 16 against a lone connection's median.
        f"informational_p99_at_{MANY}_over_p50_at_1": spread(
            [
                percentile(m.cycle_ms, 99) / median(o.cycle_ms)
                for o, m in zip(runs[1], runs[MANY], strict=True)
            ]
        ),
        "server_cpu_ms_per_write_each_round": {
            str(c): spread([1000 * r.server_cpu_s / (3 * r.cycles) for r in rs])
            for c, rs in runs.items()
        },
        "commit_batch": batch_report(metric_delta(before, after), "/metrics"),
        "ok": gain >= MIN_CONCURRENCY_GAIN and tail <= MAX_P99_OVER_P50 and clean,
    }


def metric_delta(before: str, after: str) -> dict[str, float]:
    """Batch figures over the run alone: a mean from the sums' and counts' growth."""
    old, new = batch_sums(before), batch_sums(after)
    found: dict[str, float] = {}
    for name, (total, count) in new.items():
        old_total, old_count = old.get(name, (0.0, 0.0))
        if count > old_count:
            found[f"{name}_mean"] = (total - old_total) / (count - old_count)
    return found or {k: v for k, v in batch_sizes(after).items() if not k.endswith("_mean")}


def batch_sums(exposition: str) -> dict[str, tuple[float, float]]:
    sums: dict[str, tuple[float, float]] = {}
    for family in text_string_to_metric_families(exposition):
        if "batch" in family.name:
            values = {s.name: s.value for s in family.samples}
            if f"{family.name}_count" in values:
                sums[family.name] = (values[f"{family.name}_sum"], values[f"{family.name}_count"])
    return sums


# ---- 2. cheap requests under wrk ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WrkRun:
    result: WrkResult
    cpu_s: float

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_s / self.result.requests


def wrk_with_cpu(server: Server, calls: Sequence[Call], script: Path, seconds: int) -> WrkRun:
    before = tree_cpu_seconds(server.process.pid)
    result = run_wrk(server.url, calls, script, seconds)
    return WrkRun(result, tree_cpu_seconds(server.process.pid) - before)


def cheap_figure(
    server: Server, bare: Server, calls: dict[str, list[Call]], work: Path, sizes: Sizes
) -> dict[str, Any]:
    runs: dict[str, list[WrkRun]] = {"bare": [], "check": [], "send": []}
    targets = {"bare": (bare, calls["check"]), "check": (server, calls["check"])}
    targets["send"] = (server, calls["send"])
    for round_ in range(sizes.rounds):
        for name, (target, target_calls) in targets.items():
            log(f"2. wrk: round {round_ + 1}/{sizes.rounds}, {name}")
            script = work / f"{name}.lua"
            runs[name].append(wrk_with_cpu(target, target_calls, script, sizes.wrk_seconds))
    base = runs["bare"]

    def entry(name: str) -> dict[str, Any]:
        ratios = [
            r.result.per_second / b.result.per_second for r, b in zip(runs[name], base, strict=True)
        ]
        errors = sum(r.result.errors for r in runs[name]) + sum(b.result.errors for b in base)
        ratio = median(ratios)
        return {
            "req_per_s_each_round": [round(r.result.per_second) for r in runs[name]],
            "runs": [wrk_json(r.result) for r in runs[name]],
            "server_cpu_ms_per_request": round(
                median([r.cpu_ms_per_request for r in runs[name]]), 3
            ),
            "ratio": round(ratio, 3),
            "ratio_each_round": spread(ratios),
            "limit_min_ratio": MIN_CHEAP_RATIO,
            "ok": ratio >= MIN_CHEAP_RATIO and errors == 0,
        }

    return {
        "wrk": f"-t2 -c32 -d{sizes.wrk_seconds}s",
        "rounds": sizes.rounds,
        "bare_asgi": {
            "req_per_s_each_round": [round(b.result.per_second) for b in base],
            "runs": [wrk_json(b.result) for b in base],
            "server_cpu_ms_per_request": round(median([b.cpu_ms_per_request for b in base]), 3),
        },
        "relation_check_10_pairs": entry("check"),
        "send_message": entry("send"),
    }


# ---- 3. engine writes in process -------------------------------------------------------------
class Writers:
    """MANY threads kept for the whole figure (a store keeps one connection per thread), each
    running its share of a round from one common start."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._pool = ThreadPoolExecutor(count, thread_name_prefix="bench-writer")

    def close(self) -> None:
        self._pool.shutdown()

    def run(
        self,
        step: Callable[[int], int],
        seconds: float,
        at_start: Callable[[], object] = lambda: None,
    ) -> tuple[int, float]:
        """Writes made and seconds taken: every thread calls `step(its number)` (which returns
        the writes it made) once untimed, to open its connection, then, once all have and
        `at_start` has run, back to back for `seconds`."""
        ready = threading.Barrier(self.count + 1)
        start_line = threading.Barrier(self.count + 1)
        deadline: list[float] = []

        def run(n: int) -> int:
            step(n)
            ready.wait()
            start_line.wait()
            writes = 0
            while time.monotonic() < deadline[0]:
                writes += step(n)
            return writes

        futures = [self._pool.submit(run, n) for n in range(self.count)]
        ready.wait()
        at_start()
        start = time.monotonic()
        deadline.append(start + seconds)
        start_line.wait()
        total = sum(f.result() for f in futures)
        return total, time.monotonic() - start


def befriend_writers(engine: Hushan, count: int) -> None:
    for n in range(count):
        a, b = f"w{n:02d}a", f"w{n:02d}b"
        engine.create_user(a)
        engine.create_user(b)
        require(engine.send_request(a, b) is RequestOutcome.PENDING, "writer request")
        require(engine.accept_request(b, a) is RequestOutcome.ADDED, "writer accept")


def delete_readd(engine: Hushan) -> Callable[[int], int]:
    def step(n: int) -> int:
        a, b = f"w{n:02d}a", f"w{n:02d}b"
        require(engine.delete_contact(a, b) is DeleteOutcome.DELETED, "one-way delete")
        require(engine.send_request(a, b) is RequestOutcome.ADDED, "re-add at once")
        return 2

    return step


@contextlib.contextmanager
def raw_sqlite(path: Path) -> Iterator[Callable[[int], int]]:
    """BEGIN IMMEDIATE; one INSERT; COMMIT on plain sqlite3, as hushan's store configures it
    (WAL, synchronous=NORMAL), a connection per thread and one writer lock shared by all."""
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, owner TEXT, created_at INTEGER)")
    setup.close()
    writer = threading.Lock()
    local = threading.local()
    opened: list[sqlite3.Connection] = []

    def step(n: int) -> int:
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            local.conn = conn
            opened.append(conn)
        with writer:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (owner, created_at) VALUES (?, ?)", (f"w{n}", n))
            conn.execute("COMMIT")
        return 1

    try:
        yield step
    finally:
        for conn in opened:
            conn.close()


def pg_commits(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    require(row is not None, "pg_stat_database row")
    assert row is not None
    return int(row[0])


def pgbench(url: str, seconds: int) -> float:
    argv = ["pgbench", "-N", "-n", f"-c{MANY}", f"-j{MANY}", f"-T{seconds}", url]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    require(found is not None, f"pgbench printed its rate:\n{done.stdout}\n{done.stderr}")
    assert found is not None
    return float(found.group(1))


def engine_batch() -> dict[str, float]:
    """Batch figures the engine may keep in the process's default metrics registry."""
    return batch_sizes(generate_latest(REGISTRY).decode())


def sqlite_batches(rounds: Sequence[CommitBatches]) -> dict[str, Any]:
    """The writes per commit of SQLite's group commit, counted by the store in each round (the
    untimed first step of each writer included)."""
    by_size = [sum(r.by_bound[i] for r in rounds) for i in range(len(BATCH_BOUNDS))]
    return {
        "source": "the SQLite store's own counts (group commit)",
        "mean_each_round": spread([r.writes / r.commits for r in rounds], 2),
        "largest": max(r.largest for r in rounds),
        "commits_of_size_up_to": dict(zip(map(str, BATCH_BOUNDS), by_size, strict=True)),
    }


def writes_figure(databases: Databases, work: Path, sizes: Sizes) -> dict[str, Any]:
    url = databases.new("writes")
    key = load_or_create_deployment_key(key_file(work, url))
    setup = engine_for(url, key)
    try:
        befriend_writers(setup, MANY)
    finally:
        setup.store.close()
    postgres = databases.backend == "postgres"
    baseline_name = f"pgbench_N_{MANY}_clients_tps" if postgres else "raw_sqlite_tx_per_s"
    runs: dict[str, list[float]] = {"baseline": [], "hushan": []}
    commits_per_write: list[float] = []
    batches: list[CommitBatches] = []  # the SQLite store's group commits, each round's
    writers = Writers(MANY)
    try:
        with contextlib.ExitStack() as stack:
            if postgres:
                bench_url = databases.new_postgres("pgbench")
                log(f"3. writes: pgbench -i -s{MANY}")
                init = ["pgbench", "-i", "-q", f"-s{MANY}", bench_url]
                subprocess.run(init, check=True, capture_output=True)

                def baseline() -> float:
                    return pgbench(bench_url, sizes.write_seconds)
            else:
                raw = stack.enter_context(raw_sqlite(work / "raw.db"))

                def baseline() -> float:
                    writes, seconds = writers.run(raw, sizes.write_seconds)
                    return writes / seconds

            commits: list[int] = []

            def count_commits() -> None:
                if postgres:  # once the warm-up's statistics have landed (1 s when idle)
                    time.sleep(1.2)
                    commits.append(pg_commits(url))

            for round_ in range(sizes.rounds):
                log(f"3. writes: round {round_ + 1}/{sizes.rounds}, baseline")
                runs["baseline"].append(baseline())
                log(f"3. writes: round {round_ + 1}/{sizes.rounds}, hushan delete + re-add")
                engine = engine_for(url, key)  # its connections close with it: stats flushed
                commits.clear()
                try:
                    writes, seconds = writers.run(
                        delete_readd(engine), sizes.write_seconds, count_commits
                    )
                    if isinstance(engine.store, SqliteStore):
                        batches.append(engine.store.batches)
                finally:
                    engine.store.close()
                runs["hushan"].append(writes / seconds)
                if postgres:
                    time.sleep(0.5)  # a closed backend's statistics land
                    # The first reading's own transaction counts in the second.
                    commits_per_write.append((pg_commits(url) - commits[0] - 1) / writes)
    finally:
        writers.close()
    ratios = [h / b for h, b in zip(runs["hushan"], runs["baseline"], strict=True)]
    ratio, limit = median(ratios), MIN_PGBENCH_RATIO if postgres else MIN_SQLITE_WRITE_RATIO
    batch = (
        sqlite_batches(batches)
        if batches
        else batch_report(engine_batch(), "the engine's process registry")
    )
    if commits_per_write:
        # Every committed transaction of the database over the run (pg_stat_database), the
        # engine's reads among them: above 1 when a write also reads in its own transaction.
        batch["commits_per_write_counted"] = spread(commits_per_write, 2)
    return {
        "writers": MANY,
        "seconds_per_run": sizes.write_seconds,
        "rounds": sizes.rounds,
        baseline_name: [round(v) for v in runs["baseline"]],
        "hushan_tx_per_s": [round(v) for v in runs["hushan"]],
        "ratio": round(ratio, 3),
        "ratio_each_round": spread(ratios),
        "limit_min_ratio": limit,
        "commit_batch": batch,
        "ok": ratio >= limit,
    }


# ---- the run ---------------------------------------------------------------------------------
def http_calls(server: Server) -> dict[str, list[Call]]:
    with admin_client(server) as client:
        sends = message_calls(http_users(client))
    check = small_check_call()
    probe(server, check, 200)
    probe(server, sends[0], 201)
    return {"check": [check], "send": sends}


def run(
    backend: str, work: Path, sizes: Sizes, quick: bool, figures: Sequence[str]
) -> dict[str, Any]:
    databases = Databases(backend, work)
    results: dict[str, Any] = {"bench": "serving", "backend": backend, "quick": quick}
    try:
        if "concurrency" in figures or "cheap" in figures:
            url = databases.new("serving")
            engine = engine_for(url, load_or_create_deployment_key(key_file(work, url)))
            try:
                wanted = sizes.cycle_rounds * (sizes.pairs_one + sizes.pairs_many)
                pairs: dict[int, list[list[Pair]]] = {1: [], MANY: []}
                if "concurrency" in figures:
                    log(f"1. cycles: making {2 * wanted:,} users in process")
                    for round_ in range(sizes.cycle_rounds):
                        pairs[1].append(make_pairs(engine, f"o{round_}x", sizes.pairs_one))
                        pairs[MANY].append(make_pairs(engine, f"m{round_}x", sizes.pairs_many))
            finally:
                engine.store.close()
            with serving_database(url, work) as server, bare_server(work) as bare:
                import uvicorn

                results["uvicorn"] = uvicorn.__version__
                results["hushan_serve"] = implementations(server.process.pid)
                results["bare_asgi"] = implementations(bare.process.pid)
                require(results["hushan_serve"] == results["bare_asgi"], "same loop and parser")
                if "concurrency" in figures:
                    results["concurrency"] = concurrency_figure(server, pairs, sizes)
                if "cheap" in figures:
                    results["cheap_requests"] = cheap_figure(
                        server, bare, http_calls(server), work, sizes
                    )
        if "writes" in figures:
            results["writes"] = writes_figure(databases, work, sizes)
    finally:
        if backend == "postgres":
            databases.drop()
    results["ok"] = all(
        v["ok"]
        if "ok" in v
        else all(e["ok"] for e in v.values() if isinstance(e, dict) and "ok" in e)
        for k, v in results.items()
        if k in ("concurrency", "cheap_requests", "writes")
    )
    return results


# ---- the profile -----------------------------------------------------------------------------
# Where a request's CPU goes: each sample is charged to the innermost frame that names a part
# (the parts are tried in this order on that frame), so that middlewares, which wrap every
# call, get only the time spent in their own code.
PARTS: tuple[tuple[str, str], ...] = (
    ("engine: SQL (store, sqlite3, psycopg)", r"hushan/store/|sqlite3|psycopg"),
    ("engine: encryption", r"hushan/crypto|cryptography/"),
    ("engine: rules, audit, log (service, domain, tlog)", r"hushan/(service|domain|tlog|clock)"),
    (
        "shaping and JSON encoding of the reply",
        r"(^|/)(replies|schemas)\.py|json/encoder|starlette/responses",
    ),
    ("pydantic validation", r"pydantic"),
    (
        "FastAPI's OpenTelemetry hooks",
        r"fastapi/telemetry|opentelemetry|^(trace|context)/|^(metrics|_logs)/_internal",
    ),
    (
        "route matching (every route's pattern, in turn)",
        r"routing\.py (\w+\.)?matches$|starlette/routing\.py Router\.__call__$"
        r"|fastapi/routing\.py APIRouter\.app$",
    ),
    ("the access log line (logging)", r"hushan/logs|logging/"),
    (
        "hushan's middlewares (observe, limits, body limit, errors, metrics)",
        r"^(hushan/api/)?(observe|limits|buckets|body_limit|metrics|errors)\.py|prometheus_client",
    ),
    (
        "hop to the engine pool (futures, locks, thread hand-off)",
        r"(^|/)offload\.py|concurrent/futures|threading\.py|asyncio/futures|weakref",
    ),
    ("hushan's handlers and dependencies (api/app.py)", r"^(hushan/api/)?app\.py"),
    ("FastAPI request handling and dependency solving", r"fastapi/|starlette/"),
    ("uvicorn and HTTP parsing", r"uvicorn/|httptools|h11"),
    ("event loop (uvloop, asyncio)", r"asyncio/|uvloop|anyio/"),
)
# py-spy names a file by its path below the sys.path entry it was found through, so hushan's
# API modules may appear without their package (`observe.py`); the patterns allow for it.
IDLE_WORKER = "_worker (concurrent/futures/thread.py:81)"  # the pool's wait for work
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(:\d+)?\)$")


def part_of(stack: Sequence[str]) -> str:
    for frame in reversed(stack):
        found = FRAME.match(frame)
        where = f"{found['file']} {found['function']}" if found else frame
        for name, pattern in PARTS:
            if re.search(pattern, where):
                return name
    return "other"


def breakdown(collapsed: str, cpu_ms_per_request: float) -> dict[str, Any]:
    """Where a request's time on the interpreter lock goes, from py-spy's raw (collapsed)
    output (`frame;frame;... count`, outermost first; a process and a thread frame lead):
    each part's share of the samples, times the server CPU per request measured without the
    profiler (py-spy pauses the process for each sample, and falls behind at 1,000 a second
    on 2 shared cores, so its own sample counts do not give times). A pool thread waiting
    for work is not work, and is left out."""
    samples: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        if frames[-1].startswith(IDLE_WORKER):
            continue
        samples[part_of(frames)] += int(count)
        thread = next((f for f in frames if f.startswith("thread ")), "thread ?")
        threads[re.sub(r"^thread \(\d+\): ", "", thread)] += int(count)
    total = sum(samples.values())
    require(total > 0, "py-spy took samples")
    return {
        "active_samples": total,
        "share_by_part": {name: round(n / total, 3) for name, n in samples.most_common()},
        "ms_per_request_by_part": {
            name: round(cpu_ms_per_request * n / total, 3) for name, n in samples.most_common()
        },
        "samples_by_thread": dict(threads.most_common()),
    }


def py_spy(pid: int, out: Path, seconds: int, fmt: str, extra: Sequence[str] = ()) -> Any:
    argv = ["py-spy", "record", "--pid", str(pid), "--rate", str(PROFILE_HZ), "--subprocesses"]
    argv += ["--format", fmt, "--output", str(out), "--duration", str(seconds), *extra]
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
    )


PROFILE_HZ = 1000


def scrub_paths(path: Path) -> None:
    """Leave no path of this machine in a profile that may be committed: py-spy names the
    process by its command line (the interpreter's full path) and the SVG by its file."""
    text = path.read_text()
    for local, shown in (
        (str(path), path.name),
        (sys.executable, "python"),
        (str(Path(__file__).resolve().parents[1]) + os.sep, ""),
    ):
        text = text.replace(local, shown)
    path.write_text(text)


def profiled_wrk(
    server: Server, calls: Sequence[Call], work: Path, out: Path, fmt: str, sizes: Sizes
) -> WrkRun:
    # --gil: only the thread holding the interpreter lock is sampled. One process's requests
    # queue for that lock, so its time per request is what bounds the process's rate; without
    # it, threads waiting for the lock (in a sleep the sampler cannot tell from work) fill the
    # graph at whatever line they stopped.
    extra = ("--threads", "--gil", *os.environ.get("BENCH_PY_SPY_EXTRA", "").split())
    spy = py_spy(server.process.pid, out, sizes.profile_seconds, fmt, extra)
    time.sleep(1.0)  # attached before the load starts
    if spy.poll() is not None:
        require(False, f"py-spy attached: {spy.communicate()[0]!r}")
    found = wrk_with_cpu(server, calls, work / "profile.lua", sizes.profile_seconds - 1)
    output, _ = spy.communicate(timeout=120)
    require(spy.returncode == 0 and out.exists(), f"py-spy wrote {out}: {output!r}")
    scrub_paths(out)
    log("py-spy: " + " / ".join(output.decode(errors="replace").strip().splitlines()[-3:-1]))
    return found


def profile(backend: str, work: Path, svg: Path, sizes: Sizes) -> dict[str, Any]:
    databases = Databases(backend, work)
    try:
        url = databases.new("profile")
        with serving_database(url, work, log_name="profile.log") as server:
            calls = http_calls(server)["send"]
            log("profile: wrk without py-spy: the rate and the CPU per request")
            plain = wrk_with_cpu(server, calls, work / "plain.lua", sizes.profile_seconds - 1)
            log(f"profile: flame graph of the message send path -> {svg}")
            graph = profiled_wrk(server, calls, work, svg, "flamegraph", sizes)
            log("profile: the same as collapsed stacks, for the figures")
            raw = svg.with_suffix(".collapsed.txt")
            counted = profiled_wrk(server, calls, work, raw, "raw", sizes)
            log("profile: /healthz under wrk: the framework's floor, no engine call")
            health = [HEALTHZ]
            healthz = wrk_with_cpu(server, health, work / "healthz.lua", sizes.profile_seconds - 1)
        log("profile: the engine calls of a send, in process")
        engine_ms = engine_send_ms(url, work, calls[0])
    finally:
        if backend == "postgres":
            databases.drop()
    return {
        "bench": "serving-profile",
        "backend": backend,
        "endpoint": "POST /v1/users/{id}/messages, wrk -t2 -c32, 16 sender/receiver pairs",
        "py_spy": f"record --pid SERVE --rate {PROFILE_HZ} --subprocesses --threads --gil",
        "req_per_s": round(plain.result.per_second),
        "server_cpu_ms_per_request": round(plain.cpu_ms_per_request, 3),
        "req_per_s_under_flamegraph_recording": round(graph.result.per_second),
        "req_per_s_under_raw_recording": round(counted.result.per_second),
        "healthz_req_per_s": round(healthz.result.per_second),
        "healthz_server_cpu_ms_per_request": round(healthz.cpu_ms_per_request, 3),
        "in_process_ms": engine_ms,
        "errors": sum(r.result.errors for r in (plain, graph, counted, healthz)),
        **breakdown(raw.read_text(), plain.cpu_ms_per_request),
    }


def engine_send_ms(url: str, work: Path, send: Call) -> dict[str, float]:
    """What a send asks of the engine, timed in process on the same database: the token's
    lookup and the send itself (each its own transaction), medians of 500."""
    sender = send.path.split("/")[3]
    receiver, token = json.loads(send.body)["to"], send.headers["authorization"].split()[1]
    engine = engine_for(url, load_or_create_deployment_key(key_file(work, url)))
    try:
        timings: dict[str, list[float]] = {"authenticate": [], "send_message": []}
        for n in range(550):
            start = time.perf_counter()
            engine.authenticate(token)
            middle = time.perf_counter()
            engine.send_message(sender, receiver, f"in process {n}")
            end = time.perf_counter()
            if n >= 50:  # after a warm-up
                timings["authenticate"].append(middle - start)
                timings["send_message"].append(end - middle)
    finally:
        engine.store.close()
    return {name: round(1000 * median(ts), 3) for name, ts in timings.items()}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__)
    add_backend_options(parser)
    parser.add_argument(
        "--only", nargs="+", choices=FIGURES, default=FIGURES, help="run only these figures"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="OUT.svg",
        help="record a py-spy flame graph of the send path instead (and print its breakdown)",
    )
    return parser.parse_args(argv)


def missing_tools(backend: str, figures: Sequence[str], profiling: bool) -> list[str]:
    needed = {"wrk": "apt-get install -y wrk"}
    if backend == "postgres" and "writes" in figures and not profiling:
        needed["pgbench"] = "apt-get install -y postgresql-client"
    if profiling:
        needed["py-spy"] = "pip install py-spy, or `make .venv/.installed` (a dev dependency)"
    return [f"{tool} ({how})" for tool, how in needed.items() if shutil.which(tool) is None]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # py-spy is installed beside this interpreter; `make bench` does not put it on PATH.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    missing = missing_tools(args.backend, args.only, args.profile is not None)
    if missing:
        log(f"not installed: {', '.join(missing)}")
        return 2
    raise_on_sigterm()
    started = time.monotonic()
    sizes = QUICK if args.quick else FULL
    with work_directory() as work:
        if args.profile is not None:
            results = profile(args.backend, work, args.profile.resolve(), sizes)
        else:
            results = run(args.backend, work, sizes, args.quick, args.only)
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
