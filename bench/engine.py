"""hushan's benchmark: each figure is measured beside the baseline it is judged against.

Run `python -m bench.engine` (or `make bench`); `--quick` (or HUSHAN_BENCH_QUICK=1) shrinks
every size for a fast sanity check. Progress goes to stderr; stdout gets one JSON line with
every figure, its baseline, its limit and `ok`. The exit code is 0 whenever the measurements
ran, whether or not the limits were met: reading `ok` is the caller's business.

1. In-process write throughput (one-way delete + re-add, message sends) vs single-row SQLite
   transactions with plain `sqlite3`.
2. A 1,000-pair relation check on 1,000,000 edges vs 1,000 primary-key lookups from Python.
3. HTTP req/s under wrk (32 connections) for the relation check and message sends vs a bare
   ASGI app served by uvicorn with the same options.
4. The purge sweep of 10,000 buffered conversations holding 1,000,000 messages, and whether
   its key-destruction step stays flat as the messages per conversation grow tenfold.
5. The resident memory of `hushan serve` on the 1,000,000-edge database, read after wrk has
   run full-size relation checks and contact lists against it.

Figures named `informational_*` carry no limit; they show where a judged figure's cost lies.

Everything listens on 127.0.0.1 only and lives in one temporary directory that is removed at
the end; servers are stopped at the end and die with this process if it is killed.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import itertools
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from hushan.clock import ManualClock, to_micros
from hushan.crypto import Sealer
from hushan.domain.model import PairRelation, RequestOutcome, ordered
from hushan.service import DeleteOutcome, Hushan
from hushan.store import migrate
from hushan.store.sqlite import SqliteStore
from hushan.tlog.note import Signer

HOST = "127.0.0.1"
ADMIN_KEY = "bench-admin-key-not-a-secret"
WRK_THREADS = 2
WRK_CONNECTIONS = 32

# The limits each figure is judged by.
MIN_TX_RATIO = 0.25
MAX_CHECK_RATIO = 3.0
MIN_HTTP_RATIO = 0.35
MAX_PURGE_SECONDS = 20.0
MAX_KEY_STEP_RATIO = 1.5
MAX_RSS_MB = 200.0

KEY_STEP_RUNS = 5  # the key step alone, on copies of each purge fixture


@dataclass(frozen=True, slots=True)
class Sizes:
    tx_seconds: float  # time box of each in-process throughput figure
    friend_pairs: int  # friend pairs of the big graph (two edges each)
    check_pairs: int
    check_runs: int
    purge_conversations: int
    purge_messages_few: int  # messages per conversation, small and large, for the key step
    purge_messages_many: int
    wrk_seconds: int
    wrk_rounds: int  # each HTTP figure is the median of this many wrk runs


FULL = Sizes(3.0, 500_000, 1000, 20, 10_000, 10, 100, 5, 3)
QUICK = Sizes(0.5, 10_000, 1000, 5, 500, 10, 100, 1, 1)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(slots=True)
class Rate:
    calls: int = 0
    seconds: float = 0.0

    def run(self, step: Callable[[], object], seconds: float) -> None:
        """Call `step` back to back for about `seconds`, counting."""
        start = now = time.perf_counter()
        deadline = start + seconds
        while now < deadline:
            step()
            self.calls += 1
            now = time.perf_counter()
        self.seconds += now - start

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds


def interleaved_rates(
    steps: dict[str, Callable[[], object]], seconds: float, slices: int = 6
) -> dict[str, float]:
    """Calls per second of each step, given `seconds` each in `slices` turns taken in rotation:
    this machine's speed drifts by tens of percent within a minute, and rotating spreads the
    drift over a figure and its baseline alike."""
    rates = {name: Rate() for name in steps}
    for _ in range(slices):
        for name, step in steps.items():
            rates[name].run(step, seconds / slices)
    return {name: rate.per_second for name, rate in rates.items()}


def alternating_medians(
    first: Callable[[], object], second: Callable[[], object], runs: int
) -> tuple[float, float]:
    """Median seconds of each callable over `runs` runs, alternated so that any drift of the
    machine (cache, frequency) hits both sides alike. One untimed warm-up run each."""
    first(), second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for fn, samples in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def require(condition: bool, what: str) -> None:
    """A fixture or setup check: a benchmark of a failing path would measure the wrong thing."""
    if not condition:
        raise RuntimeError(f"benchmark setup check failed: {what}")


def at_least(value: float, baseline: float, limit: float) -> dict[str, Any]:
    ratio = value / baseline
    return {"ratio": round(ratio, 3), "limit_min_ratio": limit, "ok": ratio >= limit}


def at_most(value: float, baseline: float, limit: float) -> dict[str, Any]:
    ratio = value / baseline
    return {"ratio": round(ratio, 3), "limit_max_ratio": limit, "ok": ratio <= limit}


# ---- databases ------------------------------------------------------------------------------
def new_key(path: Path) -> bytes:
    """A deployment key written where `hushan serve` looks for it (database path + .key), so
    the wrapped keys a fixture writes are the ones the server could unwrap."""
    key = os.urandom(32)
    fd = os.open(path.with_name(path.name + ".key"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def migrated(path: Path) -> Path:
    migrate.upgrade(f"sqlite:///{path}")
    return path


def engine_on(path: Path, key: bytes) -> Hushan:
    signer = Signer.generate("bench.hushan/log")
    return Hushan(SqliteStore(path), Sealer(key), signer, ManualClock())


def bulk_load(path: Path, batches: Iterable[tuple[str, Iterable[Sequence[object]]]]) -> None:
    """Insert fixture rows straight into hushan's tables, all in one transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        # A fixture: if the machine crashed mid-load we would just rebuild it.
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        for sql, rows in batches:
            conn.executemany(sql, rows)
        conn.execute("COMMIT")
        # Start each measurement from a checkpointed file, not from a WAL full of the load,
        # and with no write-back of the load still going on behind it.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    os.sync()


def count_rows(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


USERS_SQL = (
    "INSERT INTO users (id, display_name, verification_required, created_at) VALUES (?, ?, 1, ?)"
)
EDGES_SQL = "INSERT INTO edges (owner_id, contact_id, created_at) VALUES (?, ?, ?)"
BLOCKS_SQL = "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, ?)"
CONVERSATIONS_SQL = (
    "INSERT INTO conversations (id, user_lo, user_hi, state, purge_at, block_deleted,"
    " created_at, key_destroyed_at, rows_purged_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)"
)
KEYS_SQL = "INSERT INTO conversation_keys (conversation_id, user_lo, wrapped_key) VALUES (?, ?, ?)"
MESSAGES_SQL = (
    "INSERT INTO messages (conversation_id, user_lo, sender_id, body, created_at)"
    " VALUES (?, ?, ?, ?, ?)"
)


def user_rows(ids: Iterable[str], at: int) -> Iterator[tuple[str, str, int]]:
    return ((user_id, user_id, at) for user_id in ids)


# ---- 1. in-process write throughput -------------------------------------------------------
@contextlib.contextmanager
def raw_insert(path: Path) -> Iterator[Callable[[], None]]:
    """The floor under every write: BEGIN; one INSERT; COMMIT on plain sqlite3, WAL, NORMAL."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, owner TEXT, created_at INTEGER)")
        stamps = itertools.count()

        def one() -> None:
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t (owner, created_at) VALUES ('alice', ?)", (next(stamps),))
            conn.execute("COMMIT")

        yield one
    finally:
        conn.close()


@contextlib.contextmanager
def opened(engine: Hushan) -> Iterator[Hushan]:
    try:
        yield engine
    finally:
        engine.store.close()


def befriended_engine(path: Path) -> Hushan:
    """A fresh engine in which alice and bob are friends through the public calls."""
    engine = engine_on(migrated(path), os.urandom(32))
    engine.create_user("alice")
    engine.create_user("bob")
    require(engine.send_request("alice", "bob") is RequestOutcome.PENDING, "request pending")
    require(engine.accept_request("bob", "alice") is RequestOutcome.ADDED, "request accepted")
    return engine


def delete_readd(engine: Hushan) -> Callable[[], None]:
    """One-way delete, then the re-add that needs no verification: two service calls, each
    its own transaction."""
    # Check once that the cycle takes the intended path; the timed calls then repeat it.
    require(engine.delete_contact("alice", "bob") is DeleteOutcome.DELETED, "one-way delete")
    require(engine.send_request("alice", "bob") is RequestOutcome.ADDED, "re-add at once")

    def cycle() -> None:
        engine.delete_contact("alice", "bob")
        engine.send_request("alice", "bob")

    return cycle


def message_send(engine: Hushan) -> Callable[[], object]:
    numbers = itertools.count()
    return lambda: engine.send_message("alice", "bob", f"hello {next(numbers)}")


# Contacts besides bob for the informational big-list figure: with bob, alice's list is at
# the default friend limit (10,000), the largest list the re-add has to count.
BIG_LIST = 9_999


def give_alice_contacts(path: Path, count: int) -> None:
    """Add `count` contacts to alice's list besides bob (a fixture: straight into the table)."""
    at = to_micros(ManualClock().now())
    rows = ((f"c{n:05d}", at) for n in range(count))
    bulk_load(
        path,
        [("INSERT INTO edges (owner_id, contact_id, created_at) VALUES ('alice', ?, ?)", rows)],
    )


def in_process_figures(work: Path, sizes: Sizes) -> dict[str, Any]:
    path = work / "inproc.db"
    with raw_insert(work / "raw.db") as raw, opened(befriended_engine(path)) as engine:
        log("1. in-process: raw transactions, delete + re-add, message sends, in rotation")
        rates = interleaved_rates(
            {"raw": raw, "cycle": delete_readd(engine), "send": message_send(engine)},
            sizes.tx_seconds,
        )
        log(f"1. in-process: raw transactions and delete + re-add with {BIG_LIST} contacts")
        give_alice_contacts(path, BIG_LIST)
        big = interleaved_rates({"raw": raw, "cycle": delete_readd(engine)}, sizes.tx_seconds)
    raw_rate, cycle_tx, sends = rates["raw"], 2 * rates["cycle"], rates["send"]
    return {
        "raw_tx_per_s": round(raw_rate),
        "delete_readd": {
            "tx_per_s": round(cycle_tx),
            **at_least(cycle_tx, raw_rate, MIN_TX_RATIO),
            # Not judged (the figure above is): how the cost grows with the contact list.
            f"informational_tx_per_s_with_{BIG_LIST}_other_contacts": round(2 * big["cycle"]),
            f"informational_ratio_with_{BIG_LIST}_other_contacts": round(
                2 * big["cycle"] / big["raw"], 3
            ),
        },
        "send_message": {"per_s": round(sends), **at_least(sends, raw_rate, MIN_TX_RATIO)},
    }


# ---- 2. relation check on a big graph ------------------------------------------------------
# Every user is friends with the five users after and the five before them (modulo the count),
# so a graph of n users holds 5n friend pairs and 10n edges, all knowable without a lookup.
NEIGHBOURS = (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5)


def uid(i: int) -> str:
    # Zero-padded so that string order is number order: rows can be generated pre-sorted.
    return f"u{i:07d}"


@dataclass(frozen=True, slots=True)
class Graph:
    path: Path
    users: int
    key: bytes

    @property
    def edges(self) -> int:
        return self.users * len(NEIGHBOURS)

    def friend_pair(self, i: int, rng: random.Random) -> tuple[int, int]:
        return i, (i + rng.choice(NEIGHBOURS[5:])) % self.users

    def stranger_pair(self, i: int, rng: random.Random) -> tuple[int, int]:
        return i, (i + rng.randrange(len(NEIGHBOURS), self.users - len(NEIGHBOURS))) % self.users

    # Pairs that hold a conversation: active for some friends, buffered or purged for some
    # strangers (as after a mutual delete or a block-then-delete).
    def active_pair(self, i: int) -> tuple[int, int]:
        return i, (i + 1) % self.users

    def buffered_pair(self, i: int) -> tuple[int, int]:
        return i, (i + self.users // 3) % self.users

    def purged_pair(self, i: int) -> tuple[int, int]:
        return i, (i + self.users // 4) % self.users


def edge_rows(graph: Graph, at: int) -> Iterator[tuple[str, str, int]]:
    for i in range(graph.users):
        owner = uid(i)
        for j in sorted((i + d) % graph.users for d in NEIGHBOURS):
            yield owner, uid(j), at


def conversation_specs(graph: Graph) -> Iterator[tuple[tuple[int, int], str]]:
    """(pair, state) of every fixture conversation: 10% of users in an active one, 1% each in
    a buffered and a purged one."""
    for i in range(0, graph.users, 10):
        yield graph.active_pair(i), "active"
        if i % 100 == 0:
            yield graph.buffered_pair(i), "buffered"
        if i % 100 == 50:
            yield graph.purged_pair(i), "purged"


def conversation_rows(
    graph: Graph, at: int
) -> tuple[list[tuple[object, ...]], list[tuple[int, str, bytes]]]:
    sealer = Sealer(graph.key)
    far_future = at + 10 * 365 * 86400 * 1_000_000  # no sweep will reach it during the bench
    conversations: list[tuple[object, ...]] = []
    keys: list[tuple[int, str, bytes]] = []
    for cid, ((i, j), state) in enumerate(conversation_specs(graph), start=1):
        lo, hi = ordered(uid(i), uid(j))
        purge_at = far_future if state == "buffered" else None
        done_at = at if state == "purged" else None
        conversations.append((cid, lo, hi, state, purge_at, at, done_at, done_at))
        if state != "purged":
            keys.append((cid, lo, sealer.new_wrapped_key(cid)))
    return conversations, keys


def build_graph(path: Path, friend_pairs: int) -> Graph:
    graph = Graph(migrated(path), friend_pairs // 5, new_key(path))
    at = to_micros(ManualClock().now())
    conversations, keys = conversation_rows(graph, at)
    blocks = (
        (uid(i), uid((i + graph.users // 2) % graph.users), at) for i in range(0, graph.users, 1000)
    )
    bulk_load(
        path,
        [
            (USERS_SQL, user_rows((uid(i) for i in range(graph.users)), at)),
            (EDGES_SQL, edge_rows(graph, at)),
            (BLOCKS_SQL, blocks),
            (CONVERSATIONS_SQL, conversations),
            (KEYS_SQL, keys),
        ],
    )
    require(count_rows(path, "edges") == graph.edges, "edge count")
    return graph


def sample_pairs(graph: Graph, count: int, rng: random.Random) -> tuple[list[tuple[str, str]], int]:
    """Random pairs, either way round: 40% friends, 10% active conversations, 5% each buffered
    and purged ones, 40% strangers. Returns the pairs and how many are friends."""
    pairs: list[tuple[str, str]] = []
    friends = 0
    for _ in range(count):
        i, roll = rng.randrange(graph.users), rng.random()
        if roll < 0.4:
            pair = graph.friend_pair(i, rng)
        elif roll < 0.5:
            pair = graph.active_pair(i - i % 10)
        elif roll < 0.55:
            pair = graph.buffered_pair(i - i % 100)
        elif roll < 0.6:
            pair = graph.purged_pair(i - i % 100 + 50)
        else:
            pair = graph.stranger_pair(i, rng)
        friends += roll < 0.5
        a, b = uid(pair[0]), uid(pair[1])
        pairs.append((a, b) if rng.random() < 0.5 else (b, a))
    return pairs, friends


RAW_LOOKUP_SQL = "SELECT 1 FROM edges WHERE owner_id = ? AND contact_id = ?"


def raw_lookups(conn: sqlite3.Connection, pairs: Sequence[tuple[str, str]]) -> int:
    return sum(conn.execute(RAW_LOOKUP_SQL, pair).fetchone() is not None for pair in pairs)


def relation_check_figure(graph: Graph, sizes: Sizes) -> dict[str, Any]:
    log(f"2. relation check: {sizes.check_runs} runs of {sizes.check_pairs} pairs each side")
    pairs, friends = sample_pairs(graph, sizes.check_pairs, random.Random(2))
    conn = sqlite3.connect(graph.path)
    with contextlib.closing(conn), opened(engine_on(graph.path, graph.key)) as engine:
        found = engine.relation_check(pairs)
        both = sum(s.relation is PairRelation.BOTH_WAY for s in found)
        require(both == friends, f"{both} both_way of {friends} friend pairs")
        check_s, raw_s = alternating_medians(
            lambda: engine.relation_check(pairs), lambda: raw_lookups(conn, pairs), sizes.check_runs
        )
    return {
        "edges": graph.edges,
        "pairs": len(pairs),
        "friend_pairs_in_sample": friends,
        "runs": sizes.check_runs,
        "check_ms_median": round(check_s * 1000, 3),
        "raw_lookups_ms_median": round(raw_s * 1000, 3),
        **at_most(check_s, raw_s, MAX_CHECK_RATIO),
    }


# ---- 4. purge --------------------------------------------------------------------------------
def party(cid: int, side: int) -> str:
    """The user on `side` (0 or 1) of purge-fixture conversation `cid`: each has its own pair."""
    return f"p{2 * (cid - 1) + side:07d}"


def purge_users(conversations: int) -> Iterator[str]:
    return (party(cid, side) for cid in range(1, conversations + 1) for side in (0, 1))


def message_rows(
    conversations: int, each: int, at: int
) -> Iterator[tuple[int, str, str, bytes, int]]:
    """Messages interleaved across conversations, as they arrive in a live deployment, so a
    conversation's rows are spread over the table rather than packed together."""
    for n in range(each):
        for cid in range(1, conversations + 1):
            yield cid, party(cid, 0), party(cid, n % 2), os.urandom(64), at + n


@dataclass(frozen=True, slots=True)
class PurgeFixture:
    path: Path
    key: bytes
    conversations: int
    each: int  # messages per conversation

    @property
    def messages(self) -> int:
        return self.conversations * self.each


def build_purge_fixture(work: Path, conversations: int, each: int) -> PurgeFixture:
    """`conversations` buffered conversations, due since yesterday, `each` messages apiece."""
    path = work / f"purge-{each}.db"
    log(f"4. purge: loading {conversations} buffered conversations, {conversations * each} msgs")
    key = new_key(migrated(path))
    now = to_micros(ManualClock().now())
    due = now - 86400 * 1_000_000
    sealer = Sealer(key)
    rows = [
        (cid, party(cid, 0), party(cid, 1), "buffered", due, now, None, None)
        for cid in range(1, conversations + 1)
    ]
    keys = (
        (cid, party(cid, 0), sealer.new_wrapped_key(cid)) for cid in range(1, conversations + 1)
    )
    bulk_load(
        path,
        [
            (USERS_SQL, user_rows(purge_users(conversations), now)),
            (CONVERSATIONS_SQL, rows),
            (KEYS_SQL, keys),
            (MESSAGES_SQL, message_rows(conversations, each, now)),
        ],
    )
    return PurgeFixture(path, key, conversations, each)


def quiet(step: str, count: int) -> None:
    """A progress listener that ignores progress."""


def key_step_seconds(fixture: PurgeFixture) -> float:
    """The key-destruction step alone, on a copy of the fixture (a sweep consumes its own)."""
    scratch = fixture.path.with_name("key-step-" + fixture.path.name)
    shutil.copyfile(fixture.path, scratch)
    os.sync()  # no write-back of the copy behind the timing
    try:
        with opened(engine_on(scratch, fixture.key)) as engine:
            start = time.perf_counter()
            destroyed, _ = engine.purger._destroy_due_keys(engine.clock.now(), quiet)
            elapsed = time.perf_counter() - start
    finally:
        remove_database(scratch)
    require(destroyed == fixture.conversations, f"{destroyed} keys destroyed")
    return elapsed


def key_step_medians(few: PurgeFixture, many: PurgeFixture) -> tuple[float, float]:
    """Median key-step time of each fixture, the runs alternated: the step takes a fraction of
    a second, so single runs minutes apart mostly compare the machine's moods."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(KEY_STEP_RUNS):
        times[0].append(key_step_seconds(few))
        times[1].append(key_step_seconds(many))
    return statistics.median(times[0]), statistics.median(times[1])


@dataclass(frozen=True, slots=True)
class SweepTiming:
    total_s: float
    key_step_s: float
    rows_step_s: float  # deleting the rows, then checkpointing the WAL


def timed_sweep(fixture: PurgeFixture) -> SweepTiming:
    """Time one sweep and, through its progress callback, its steps: key destruction runs
    between the last "requests expired" report and the last "keys destroyed" one. The sweep
    consumes the fixture, which is then removed."""
    log(f"4. purge: sweeping {fixture.messages} messages")
    marks: dict[str, float] = {}

    def progress(step: str, count: int) -> None:
        marks[step] = time.perf_counter()

    with opened(engine_on(fixture.path, fixture.key)) as engine:
        start = time.perf_counter()
        report = engine.purger.sweep(progress)
        end = time.perf_counter()
    require(report.keys_destroyed == fixture.conversations, f"keys destroyed: {report}")
    require(report.rows_deleted == fixture.messages, f"rows deleted: {report}")
    require(report.conversations_finished == fixture.conversations, f"finished: {report}")
    for table in ("messages", "conversation_keys"):
        require(count_rows(fixture.path, table) == 0, f"{table} empty after the sweep")
    remove_database(fixture.path)
    keys_done = marks["keys destroyed"]
    return SweepTiming(end - start, keys_done - marks["requests expired"], end - keys_done)


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".key"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def purge_figure(work: Path, sizes: Sizes) -> dict[str, Any]:
    n = sizes.purge_conversations
    few = build_purge_fixture(work, n, sizes.purge_messages_few)
    many = build_purge_fixture(work, n, sizes.purge_messages_many)
    log(f"4. purge: the key step alone, {KEY_STEP_RUNS} runs on each fixture")
    key_few, key_many = key_step_medians(few, many)
    few_sweep, many_sweep = timed_sweep(few), timed_sweep(many)
    return {
        "conversations": n,
        "messages": many.messages,
        "total_s": round(many_sweep.total_s, 3),
        "key_step_in_sweep_s": round(many_sweep.key_step_s, 3),
        "rows_step_s": round(many_sweep.rows_step_s, 3),
        "limit_max_s": MAX_PURGE_SECONDS,
        "ok": many_sweep.total_s <= MAX_PURGE_SECONDS,
        f"total_s_{few.each}_per_conversation": round(few_sweep.total_s, 3),
        "key_step_flat": {
            "runs": KEY_STEP_RUNS,
            f"key_step_s_median_{few.each}_per_conversation": round(key_few, 3),
            f"key_step_s_median_{many.each}_per_conversation": round(key_many, 3),
            **at_most(key_many, key_few, MAX_KEY_STEP_RATIO),
        },
    }


# ---- servers ---------------------------------------------------------------------------------
Scope = dict[str, Any]
AsgiMessage = dict[str, Any]
Receive = Callable[[], Awaitable[AsgiMessage]]
Send = Callable[[AsgiMessage], Awaitable[None]]

HELLO = b'{"hello":"world"}'


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The HTTP baseline: raw ASGI, no framework. It reads the whole body, as hushan must."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    while (await receive()).get("more_body", False):
        pass
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": HELLO})


async def lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown, as any ASGI app uvicorn serves with lifespan on."""
    while True:
        kind = (await receive())["type"]
        await send({"type": f"{kind}.complete"})
        if kind == "lifespan.shutdown":
            return


def serve_bare(port: int) -> None:
    import uvicorn

    # The options `hushan serve` passes, so the two differ only in the app.
    uvicorn.run(bare_app, host=HOST, port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """Runs in the child before exec: if the bench is killed, even by SIGKILL, the kernel
    sends the server SIGTERM, so no server outlives it."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass(frozen=True, slots=True)
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path


def wait_until_up(server: Server, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited:\n{server.log.read_text(errors='replace')}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server did not come up:\n{server.log.read_text(errors='replace')}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def serving(
    argv: list[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[Server]:
    port = free_port()
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [*argv, "--port", str(port)],
            env={**os.environ, "HUSHAN_RATE_ENABLED": "false", **(env or {})},  # no 429s
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    try:
        server = Server(process, f"http://{HOST}:{port}", log_path)
        wait_until_up(server)
        yield server
    finally:
        stop(process)


def serving_database(
    url: str, work: Path, *options: str, log_name: str = "serve.log"
) -> contextlib.AbstractContextManager[Server]:
    """`hushan serve` on the database at `url`, without a worker beside it (a bench's figures
    are the API's), its key files and log in `work`."""
    argv = [sys.executable, "-m", "hushan.cli", "serve", "--no-sweep", *options]
    env = {"HUSHAN_DATABASE_URL": url, "HUSHAN_ADMIN_KEY": ADMIN_KEY}
    return serving(argv, work / log_name, env, cwd=work)


def hushan_server(db: Path) -> contextlib.AbstractContextManager[Server]:
    argv = [sys.executable, "-m", "hushan.cli", "serve", "--db", str(db)]
    return serving(argv, db.with_name(db.name + ".log"), {"HUSHAN_ADMIN_KEY": ADMIN_KEY})


def bare_server(work: Path) -> contextlib.AbstractContextManager[Server]:
    argv = [sys.executable, "-m", "bench.engine", "--serve-bare"]
    # `-m bench.engine` must resolve to this file whatever directory the bench was started in.
    return serving(argv, work / "bare.log", {"PYTHONPATH": str(Path(__file__).parents[1])})


def admin_client(server: Server) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=60
    )


# ---- wrk -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: str


# wrk runs one Lua state per thread: each builds its requests once in init() and then hands
# them out in turn. done() prints the totals as one marked JSON line for us to parse.
LUA_TEMPLATE = """
local calls = {%CALLS%}
local built = {}
local turn = 0

init = function(args)
  for i, c in ipairs(calls) do
    built[i] = wrk.format(c[1], c[2], c[3], c[4])
  end
end

request = function()
  turn = turn % #built + 1
  return built[turn]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_WRK {\\"requests\\":%.0f,\\"duration_us\\":%.0f,\\"connect\\":%.0f,"
    .. "\\"read\\":%.0f,\\"write\\":%.0f,\\"status\\":%.0f,\\"timeout\\":%.0f,"
    .. "\\"p50_us\\":%.0f,\\"p99_us\\":%.0f}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def lua_string(text: str) -> str:
    # A long bracket needs no escaping; our ids, tokens and JSON never contain its closer.
    require("]==]" not in text, "Lua long string")
    return f"[==[{text}]==]"


def lua_call(call: Call) -> str:
    # `[ [==[` with the space: `[[` would open a long string of its own.
    headers = ", ".join(f"[ {lua_string(k)} ] = {lua_string(v)}" for k, v in call.headers.items())
    parts = (
        lua_string(call.method),
        lua_string(call.path),
        f"{{{headers}}}",
        lua_string(call.body),
    )
    return "{" + ", ".join(parts) + "}"


def wrk_script(calls: Sequence[Call]) -> str:
    return LUA_TEMPLATE.replace("%CALLS%", ",\n".join(lua_call(c) for c in calls))


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def run_wrk(
    url: str, calls: Sequence[Call], script: Path, seconds: int, timeout_s: int = 2
) -> WrkResult:
    script.write_text(wrk_script(calls))
    argv = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "-s", str(script)]
    argv += [f"--timeout={timeout_s}s"]
    done = subprocess.run(
        [*argv, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
        preexec_fn=die_with_parent,
    )
    marked = [line for line in done.stdout.splitlines() if line.startswith("BENCH_WRK ")]
    require(len(marked) == 1, f"wrk printed its totals:\n{done.stdout}\n{done.stderr}")
    totals = json.loads(marked[0].removeprefix("BENCH_WRK "))
    errors = sum(totals[k] for k in ("connect", "read", "write", "status", "timeout"))
    return WrkResult(
        int(totals["requests"]),
        totals["duration_us"] / 1e6,
        int(errors),
        totals["p50_us"] / 1000,
        totals["p99_us"] / 1000,
    )


def wrk_json(result: WrkResult) -> dict[str, Any]:
    return {
        "req_per_s": round(result.per_second),
        "requests": result.requests,
        "errors": result.errors,
        "p50_ms": round(result.p50_ms, 2),
        "p99_ms": round(result.p99_ms, 2),
    }


# ---- 3. HTTP throughput ----------------------------------------------------------------------
JSON_TYPE = {"content-type": "application/json"}
HTTP_SENDERS = 16


def http_users(client: httpx.Client) -> dict[str, str]:
    """Senders s00..s15, each friends with receiver r00..r15 (verification off, so a request
    makes them friends at once). Returns each sender's bearer token."""
    tokens: dict[str, str] = {}
    for n in range(HTTP_SENDERS):
        sender, receiver = f"s{n:02d}", f"r{n:02d}"
        reply = client.post("/v1/users", json={"id": sender})
        require(reply.status_code == 201, f"create {sender}: {reply.text}")
        tokens[sender] = reply.json()["token"]
        body = {"id": receiver, "verification_required": False}
        require(client.post("/v1/users", json=body).status_code == 201, f"create {receiver}")
        added = client.post(
            f"/v1/users/{sender}/requests",
            json={"to": receiver},
            headers={"authorization": f"Bearer {tokens[sender]}"},
        )
        require(added.json() == {"status": "added"}, f"befriend {sender}: {added.text}")
    return tokens


def check_call(admin_key: str, pairs: Sequence[tuple[str, str]]) -> Call:
    body = json.dumps({"pairs": [{"a": a, "b": b} for a, b in pairs]})
    headers = {**JSON_TYPE, "authorization": f"Bearer {admin_key}"}
    return Call("POST", "/v1/admin/relations/check", headers, body)


def small_check_call() -> Call:
    """Ten pairs: five friends, five strangers."""
    friends = [(f"s{n:02d}", f"r{n:02d}") for n in range(5)]
    strangers = [(f"s{n:02d}", f"r{n + 1:02d}") for n in range(5)]
    return check_call(ADMIN_KEY, friends + strangers)


def message_calls(tokens: dict[str, str]) -> list[Call]:
    return [
        Call(
            "POST",
            f"/v1/users/{sender}/messages",
            {**JSON_TYPE, "authorization": f"Bearer {token}"},
            json.dumps({"to": "r" + sender[1:], "body": f"hello from {sender}"}),
        )
        for sender, token in tokens.items()
    ]


def probe(server: Server, call: Call, status: int) -> None:
    """Send one call the way wrk will, so that wrk never times a stream of errors."""
    reply = httpx.request(
        call.method, server.url + call.path, headers=call.headers, content=call.body
    )
    require(reply.status_code == status, f"{call.path} -> {reply.status_code} {reply.text}")


HEALTHZ = Call("GET", "/healthz", {}, "")


def median_run(runs: Sequence[WrkResult]) -> WrkResult:
    """The run of median rate, carrying the errors of every run (any error disqualifies)."""
    middle = sorted(runs, key=lambda r: r.per_second)[len(runs) // 2]
    return dataclasses.replace(middle, errors=sum(r.errors for r in runs))


def interleaved_wrk(
    targets: dict[str, tuple[str, list[Call]]], work: Path, sizes: Sizes
) -> dict[str, WrkResult]:
    """Every target once per round, round after round: this machine's speed drifts by tens of
    percent over a minute, and interleaving spreads the drift over all targets alike."""
    runs: dict[str, list[WrkResult]] = {name: [] for name in targets}
    for round_ in range(1, sizes.wrk_rounds + 1):
        for name, (url, calls) in targets.items():
            log(f"3. http: round {round_}/{sizes.wrk_rounds}, {name}")
            runs[name].append(run_wrk(url, calls, work / f"{name}.lua", sizes.wrk_seconds))
    return {name: median_run(results) for name, results in runs.items()}


def http_figures(work: Path, sizes: Sizes) -> dict[str, Any]:
    check = small_check_call()
    with bare_server(work) as bare, hushan_server(migrated(work / "http.db")) as server:
        with admin_client(server) as client:
            sends = message_calls(http_users(client))
        probe(server, check, 200)
        probe(server, sends[0], 201)
        found = interleaved_wrk(
            {
                # The bare app answers any path: it gets the relation check's very bytes.
                "bare": (bare.url, [check]),
                "healthz": (server.url, [HEALTHZ]),
                "check": (server.url, [check]),
                "send": (server.url, sends),
            },
            work,
            sizes,
        )
    baseline = found["bare"]
    return {
        "wrk": f"-t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{sizes.wrk_seconds}s",
        "rounds": sizes.wrk_rounds,
        "bare_asgi": wrk_json(baseline),
        # Not judged: hushan's cheapest route, i.e. what the framework alone leaves.
        "informational_hushan_healthz": {
            **wrk_json(found["healthz"]),
            "ratio": round(found["healthz"].per_second / baseline.per_second, 3),
        },
        "relation_check_10_pairs": http_entry(found["check"], baseline),
        "send_message": http_entry(found["send"], baseline),
    }


def http_entry(result: WrkResult, baseline: WrkResult) -> dict[str, Any]:
    judged = at_least(result.per_second, baseline.per_second, MIN_HTTP_RATIO)
    # Errors are answered fast: a run with any would flatter its figure, so it cannot pass.
    clean = result.errors == 0 and baseline.errors == 0
    return {**wrk_json(result), **judged, "ok": judged["ok"] and clean}


# ---- 5. server memory ------------------------------------------------------------------------
def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def memory_load(client: httpx.Client, graph: Graph, rng: random.Random) -> list[Call]:
    """Calls that walk the big tables: full-size relation checks and contact lists, the
    latter by users given a token here."""
    checks = [check_call(ADMIN_KEY, sample_pairs(graph, 1000, rng)[0]) for _ in range(8)]
    contacts = []
    for user in (uid(rng.randrange(graph.users)) for _ in range(8)):
        token = client.post(f"/v1/users/{user}/tokens").json()["token"]
        headers = {"authorization": f"Bearer {token}"}
        contacts.append(Call("GET", f"/v1/users/{user}/contacts", headers, ""))
    return checks + contacts


def memory_figure(work: Path, graph: Graph, sizes: Sizes) -> dict[str, Any]:
    log("5. memory: hushan serve on the big graph, under wrk")
    with hushan_server(graph.path) as server:
        with admin_client(server) as client:
            calls = memory_load(client, graph, random.Random(5))
        for call in calls:
            probe(server, call, 200)
        # Concurrent load, so the server grows every thread and connection it would in use.
        # Full-size checks take tens of ms each, so 32 of them queue for seconds: a long
        # timeout keeps slow answers counted as answers (any error status still fails).
        load = run_wrk(server.url, calls, work / "memory.lua", sizes.wrk_seconds, timeout_s=30)
        pid = server.process.pid
        rss_mb, hwm_mb = status_kib(pid, "VmRSS") / 1024, status_kib(pid, "VmHWM") / 1024
    return {
        "edges": graph.edges,
        "database_mb": round(graph.path.stat().st_size / 2**20, 1),
        "load_requests": load.requests,
        "load_errors": load.errors,
        "vm_rss_mb": round(rss_mb, 1),
        "vm_hwm_mb": round(hwm_mb, 1),
        "limit_max_mb": MAX_RSS_MB,
        "ok": rss_mb <= MAX_RSS_MB and load.errors == 0,
    }


# ---- the run -----------------------------------------------------------------------------------
def run(work: Path, sizes: Sizes, quick: bool) -> dict[str, Any]:
    results: dict[str, Any] = {
        "sqlite": sqlite3.sqlite_version,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "quick": quick,
    }
    results["in_process"] = in_process_figures(work, sizes)
    log(f"2. relation check: loading {2 * sizes.friend_pairs} edges")
    graph = build_graph(work / "graph.db", sizes.friend_pairs)
    results["relation_check"] = relation_check_figure(graph, sizes)
    results["http"] = http_figures(work, sizes)
    results["purge"] = purge_figure(work, sizes)
    results["server_memory"] = memory_figure(work, graph, sizes)
    results["ok"] = all(collect_ok(results))
    return results


def collect_ok(node: object) -> Iterator[bool]:
    """Every `ok` below the top level."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "ok":
                yield bool(value)
            else:
                yield from collect_ok(value)


def raise_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so the cleanup in `finally` blocks runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def add_quick_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("HUSHAN_BENCH_QUICK", "") not in ("", "0"),
        help="small sizes, for a fast sanity check (also HUSHAN_BENCH_QUICK=1)",
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__)
    add_quick_option(parser)
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_bare:
        serve_bare(args.port)
        return 0
    if shutil.which("wrk") is None:
        log("wrk is not installed (apt-get install -y wrk)")
        return 2
    raise_on_sigterm()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hushan-bench-") as tmp:
        results = run(Path(tmp), QUICK if args.quick else FULL, args.quick)
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
