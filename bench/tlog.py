"""The transparency log's benchmark: one JSON line, each figure beside its limit.

Run `python -m bench.tlog` (`make bench` runs it after `bench.engine`); `--quick` shrinks the
log for a fast sanity check.

1. Write cost of the log: delete + re-add cycles while a `hushan worker` process keeps the
   log current (a checkpoint every second, far more often than the 60 s schedule) vs the same
   cycles on a database whose log is never integrated, in rotation. Limit: the log costs at
   most 15% of the throughput. Also shown, not judged: integrating in the writing thread
   itself (a checkpoint every `PUBLISH_EVERY` cycles).
2. Inclusion proofs for random entries of a 10,000,000-entry log, served from its stored
   nodes through the store (a read transaction each). Limit: under 5 ms (the worst one).
3. Verifying a certificate whose entries sit in that 10,000,000-entry tree (proofs of full
   length, both signatures, the replay, and the map: its map-root leaf's inclusion proof and
   the pair's proof in a map of `MAP_KEYS` pairs). Limit: under 5 ms (median of repeated runs).
4. What the map adds to integration: a backlog of entries of many distinct pairs integrated by
   `publish`, the time spent on the map (its batch updates, reads and writes of map nodes)
   against the rest. Limit: at most 25% on top of the log's own integration.
5. A map proof's size in a map of `MAP_KEYS` pairs, as a certificate carries it (JSON).
   Limit: 2 KB.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.engine import (
    befriended_engine,
    bulk_load,
    delete_readd,
    engine_on,
    interleaved_rates,
    log,
    migrated,
    opened,
    require,
)
from hushan.clock import ManualClock
from hushan.service import Hushan
from hushan.store.log_sql import LogSql
from hushan.tlog import entries as e
from hushan.tlog import maproot, merkle, smt
from hushan.tlog.certificate import (
    LegalBasis,
    body_text,
    encode_map_proof,
    encode_proof,
    signed_file,
    verify,
)
from hushan.tlog.note import Checkpoint

MAX_WRITE_COST = 0.15
MAX_MAP_COST = 0.25
MAX_MAP_PROOF_BYTES = 2048
MAX_PROOF_MS = 5.0
MAX_VERIFY_MS = 5.0
PUBLISH_EVERY = 500  # cycles (1,000 audit entries) between checkpoints in figure 1
PROOF_SAMPLES = 1000
VERIFY_RUNS = 200


def write_cost(work: Path, seconds: float) -> dict[str, Any]:
    log("1. write cost: delete + re-add, no log work / a worker beside / the same thread")
    with (
        opened(befriended_engine(work / "plain.db")) as plain,
        opened(befriended_engine(work / "worker.db")) as beside,
        opened(befriended_engine(work / "thread.db")) as kept,
        worker_process(work / "worker.db"),
    ):
        cycle_kept = delete_readd(kept)
        kept.log.publish()
        done = [0]

        def same_thread() -> None:
            cycle_kept()
            done[0] += 1
            if done[0] % PUBLISH_EVERY == 0:
                kept.log.publish()

        rates = interleaved_rates(
            {"without": delete_readd(plain), "worker": delete_readd(beside), "thread": same_thread},
            seconds,
        )
        require(caught_up(beside, timeout=120), "the worker integrated every entry")
    judged = 1 - rates["worker"] / rates["without"]
    return {
        "tx_per_s_without_log": round(2 * rates["without"]),
        "tx_per_s_with_worker": round(2 * rates["worker"]),
        "worker": "hushan worker --interval 1, its own process (serve --no-sweep beside it)",
        "cost": round(judged, 3),
        "limit_max_cost": MAX_WRITE_COST,
        "ok": judged <= MAX_WRITE_COST,
        # Not judged: the log integrated in the writing thread itself (serve's default
        # placement), a checkpoint every 1,000 entries.
        "informational_tx_per_s_integrating_in_the_same_thread": round(2 * rates["thread"]),
        "informational_cost_in_the_same_thread": round(1 - rates["thread"] / rates["without"], 3),
    }


@contextlib.contextmanager
def worker_process(db: Path) -> Iterator[None]:
    argv = [sys.executable, "-m", "hushan.cli", "worker", "--db", str(db), "--interval", "1"]
    worker = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)


def caught_up(engine: Hushan, timeout: float) -> bool:
    """Whether the worker's checkpoints come to cover every audit entry in time."""
    deadline = time.monotonic() + timeout
    with engine.store.read() as tx:
        wanted = tx.audit_entries(0, 1 << 30)[-1].seq
    while time.monotonic() < deadline:
        latest = engine.log.latest_checkpoint()
        if latest is not None and engine.log.head()[1] >= wanted:
            return True
        time.sleep(0.2)
    return False


def synthetic_leaf(index: int) -> bytes:
    return b"synthetic entry %d" % index


def build_tree(path: Path, leaf_of: Callable[[int], bytes], size: int) -> None:
    """Store a `size`-leaf tree the way the log stores it: leaves with their hashes, then
    every complete subtree above them, level by level (a fixture: straight into the tables)."""
    entries = [leaf_of(i) for i in range(size)]
    level_hashes = [merkle.leaf_hash(entry) for entry in entries]
    leaf_rows = (
        (i, i + 1, "synthetic", "pair", i + 1, entry.decode(), level_hashes[i])
        for i, entry in enumerate(entries)
    )
    sql = "INSERT INTO log_leaves (idx, seq, user_lo, user_hi, pair_n, entry, hash) VALUES"
    bulk_load(path, [(sql + " (?, ?, ?, ?, ?, ?, ?)", leaf_rows)])
    del entries
    level = 0
    while len(level_hashes) > 1:
        level_hashes = [
            merkle.node_hash(level_hashes[i], level_hashes[i + 1])
            for i in range(0, len(level_hashes) - 1, 2)
        ]
        level += 1
        rows = ((level, i, h) for i, h in enumerate(level_hashes))
        bulk_load(path, [("INSERT INTO log_nodes (level, idx, hash) VALUES (?, ?, ?)", rows)])


def big_log(work: Path, size: int, tail: Sequence[str]) -> Path:
    """A migrated database whose log holds `size` leaves, the last ones being `tail`."""
    path = migrated(work / "big.db")
    first_tail = size - len(tail)
    log(f"2. building a log of {size} entries")

    def leaf(index: int) -> bytes:
        return tail[index - first_tail].encode() if index >= first_tail else synthetic_leaf(index)

    build_tree(path, leaf, size)
    return path


def proof_figure(work: Path, size: int, tail: Sequence[str]) -> tuple[dict[str, Any], Path]:
    path = big_log(work, size, tail)
    rng = random.Random(9)
    with opened(engine_on(path, bytes(32))) as engine:
        log(f"2. inclusion proofs: {PROOF_SAMPLES} random entries of {size}")
        times = []
        for index in [0, size - 1, *(rng.randrange(size) for _ in range(PROOF_SAMPLES - 2))]:
            start = time.perf_counter()
            proof = engine.log.inclusion_proof(index, size)
            times.append((time.perf_counter() - start) * 1000)
        with engine.store.read() as tx:
            root = merkle.root(size, tx.node)
        index = rng.randrange(size - len(tail))
        proof = engine.log.inclusion_proof(index, size)
        # Check that what was timed is a proof that holds.
        merkle.verify_inclusion(index, size, merkle.leaf_hash(synthetic_leaf(index)), proof, root)
    times.sort()
    worst = times[-1]
    return {
        "log_entries": size,
        "proof_hashes": len(proof),
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(times[int(0.99 * len(times))], 3),
        "max_ms": round(worst, 3),
        "limit_max_ms": MAX_PROOF_MS,
        "ok": worst < MAX_PROOF_MS,
    }, path


@dataclass
class MapFixture:
    """The pair's certificate moved into the big tree: the tail of the big log (the pair's
    entries, then a map-root leaf) and the map section that goes with it."""

    tail: list[str]
    section: dict[str, Any]
    keys: int


def map_fixture(body: dict[str, Any], size: int, keys: int) -> MapFixture:
    """A map of `keys` pairs (the certificate's and synthetic ones) whose root the big log's
    last leaf holds, with the certificate's entries placed just before it."""
    log(f"3. building a map of {keys} pairs in memory for the certificate's map proof")
    entries = [item["entry"] for item in body["entries"]]
    first = size - len(entries) - 1
    last = first + len(entries) - 1
    digest = merkle.leaf_hash(entries[-1].encode())
    key = smt.map_key(body["pair"]["a"], body["pair"]["b"])
    value = smt.map_value(len(entries), last, digest)
    nodes: dict[smt.Position, smt.Node] = {}

    def fetch(positions: Sequence[smt.Position]) -> dict[smt.Position, smt.Node]:
        return {p: nodes[p] for p in positions if p in nodes}

    batch = 50_000
    for start in range(0, keys - 1, batch):
        update = smt.MapUpdate(fetch)
        update.set_many(
            [(synthetic_key(n), synthetic_key(-n)) for n in range(start, min(start + batch, keys))]
        )
        nodes.update(update.finish()[1])
    update = smt.MapUpdate(fetch)
    update.set_many([(key, value)])
    root, changed = update.finish()
    nodes.update(changed)
    _, proof = smt.prove(key, fetch)
    leaf = maproot.MapRoot(root, size - 1, datetime.now(UTC)).text()
    section = {
        "root_leaf": {"index": size - 1, "entry": leaf, "proof": []},
        "key": key.hex(),
        "value": {
            "pair_n": len(entries),
            "index": last,
            "leaf_hash": base64.b64encode(digest).decode(),
        },
        "proof": encode_map_proof(proof),
    }
    return MapFixture([*entries, leaf], section, keys)


def synthetic_key(n: int) -> bytes:
    return hashlib.sha256(b"synthetic pair %d" % n).digest()


def verify_figure(
    small: Any, body: dict[str, Any], big: Path, size: int, fixture: MapFixture
) -> dict[str, Any]:
    """The small engine's certificate moved into the big tree: its entries and map-root leaf
    are the big log's last leaves, so every proof has the length a 10M-entry log gives."""
    log("3. verifying a certificate whose proofs lead into the big tree")
    with opened(engine_on(big, bytes(32))) as engine, engine.store.read() as tx:
        node = tx.node
        first = size - len(fixture.tail)
        body["entries"] = [
            {
                "index": first + n,
                "entry": item["entry"],
                "proof": encode_proof(merkle.inclusion_proof(first + n, size, node)),
            }
            for n, item in enumerate(body["entries"])
        ]
        section = fixture.section
        section["root_leaf"]["proof"] = encode_proof(merkle.inclusion_proof(size - 1, size, node))
        root = merkle.root(size, node)
    body["map"] = section
    body["checkpoint"] = small.log.signer.sign(Checkpoint(small.log.origin, size, root).text())
    body["previous"] = None
    data = signed_file(body, small.log.signer.signature_line(body_text(body)))
    verifier = small.log.signer.verifier
    verdict = verify(data, verifier)
    require(verdict.checkpoint.size == size, "the certificate points into the big tree")
    require(verdict.map_checked, "the map was checked")
    times = []
    for _ in range(VERIFY_RUNS):
        start = time.perf_counter()
        verify(data, verifier)
        times.append((time.perf_counter() - start) * 1000)
    median = statistics.median(times)
    return {
        "log_entries": size,
        "map_pairs": fixture.keys,
        "entries_in_certificate": verdict.entries,
        "certificate_bytes": len(data),
        "median_ms": round(median, 3),
        "max_ms": round(max(times), 3),
        "limit_max_ms": MAX_VERIFY_MS,
        "ok": median < MAX_VERIFY_MS,
    }


def map_proof_figure(fixture: MapFixture) -> dict[str, Any]:
    proof = e.canonical_json(fixture.section["proof"])
    whole = e.canonical_json(fixture.section)
    return {
        "map_pairs": fixture.keys,
        "siblings": len(fixture.section["proof"]["siblings"]),
        "depth": fixture.section["proof"]["depth"],
        "proof_bytes": len(proof),
        "map_section_bytes": len(whole),
        "limit_max_bytes": MAX_MAP_PROOF_BYTES,
        "ok": len(proof) <= MAX_MAP_PROOF_BYTES,
    }


@contextlib.contextmanager
def without_map() -> Iterator[None]:
    """Integration as it was before the map: every map step replaced by one that does nothing
    (the baseline the map's added cost is measured against)."""

    class NoUpdate:
        def __init__(self, fetch: Any) -> None:
            pass

        def set_many(self, updates: Any) -> None:
            pass

        def finish(self) -> tuple[bytes, list[Any]]:
            return smt.EMPTY, []

    stubs: list[tuple[Any, str, Any]] = [
        (smt, "MapUpdate", NoUpdate),
        (smt, "map_key", lambda a, b: b"k"),
        (smt, "map_value", lambda *parts: b"v"),
        (LogSql, "put_map_nodes", lambda self, nodes: None),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in stubs]
    for owner, name, stub in stubs:
        setattr(owner, name, stub)
    try:
        yield
    finally:
        for owner, name, inner in saved:
            setattr(owner, name, inner)


def map_cost_figure(work: Path, pairs: int) -> dict[str, Any]:
    """A backlog of `pairs` new pairs (five entries each) integrated by one publish, on copies
    of one database, with the map and without it, in turn (best of two each)."""
    log(f"4. map cost: integrating the entries of {pairs} new pairs, with and without the map")
    original = migrated(work / "map.db")
    key = os.urandom(32)
    engine = engine_on(original, key)
    for n in range(pairs):
        engine.create_user(f"u{n}")
    for n in range(pairs - 1):
        engine.send_request(f"u{n}", f"u{n + 1}")
        engine.accept_request(f"u{n + 1}", f"u{n}")
    require(engine.log.head() == (0, 0), "nothing integrated yet")
    engine.store.close()
    times: dict[bool, list[float]] = {True: [], False: []}
    entries = 0
    for run, with_map in enumerate([True, False, True, False]):
        copy = work / f"map{run}.db"
        shutil.copy(original, copy)
        engine = engine_on(copy, key)
        with contextlib.nullcontext() if with_map else without_map():
            start = time.perf_counter()
            checkpoint = engine.log.publish()
            times[with_map].append(time.perf_counter() - start)
        require(checkpoint is not None, "the backlog was integrated")
        entries = checkpoint.size if checkpoint else 0
        engine.store.close()
    with_s, without_s = min(times[True]), min(times[False])
    cost = with_s / without_s - 1
    return {
        "entries": entries,
        "pairs": pairs - 1,
        "integration_s_with_map": round(with_s, 3),
        "integration_s_without_map": round(without_s, 3),
        "cost": round(cost, 3),
        "limit_max_cost": MAX_MAP_COST,
        "ok": cost <= MAX_MAP_COST,
    }


def pair_history(work: Path) -> Any:
    """A real pair with a full story: friends, messages, mutual delete, purge."""
    from datetime import timedelta

    engine = befriended_engine(work / "small.db")
    for n in range(3):
        engine.send_message("alice", "bob", f"m{n}")
    engine.block("alice", "bob")
    engine.unblock("alice", "bob")
    engine.delete_contact("alice", "bob")
    engine.delete_contact("bob", "alice")
    assert isinstance(engine.clock, ManualClock)
    engine.clock.advance(timedelta(days=31))
    engine.sweep()
    return engine


def run(work: Path, quick: bool, size: int, map_keys: int, map_pairs: int) -> dict[str, Any]:
    results: dict[str, Any] = {"quick": quick, "python": sys.version.split()[0]}
    results["write_cost"] = write_cost(work, 1.0 if quick else 6.0)
    small = pair_history(work)
    body = json.loads(small.log.certificate("alice", "bob", LegalBasis.USER_REQUEST))["body"]
    fixture = map_fixture(body, size, map_keys)
    results["inclusion_proof"], big = proof_figure(work, size, fixture.tail)
    results["verify_certificate"] = verify_figure(small, body, big, size, fixture)
    results["map_proof"] = map_proof_figure(fixture)
    small.store.close()
    results["map_cost"] = map_cost_figure(work, map_pairs)
    results["ok"] = all(v["ok"] for v in results.values() if isinstance(v, dict))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tlog", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 100,000-entry log")
    parser.add_argument("--size", type=int, help="log entries (10,000,000; quick: 100,000)")
    parser.add_argument("--map-keys", type=int, help="pairs in the map of figures 3 and 5")
    parser.add_argument("--map-pairs", type=int, help="new pairs integrated in figure 4")
    args = parser.parse_args(argv)
    size = args.size or (100_000 if args.quick else 10_000_000)
    map_keys = args.map_keys or (100_000 if args.quick else 1_000_000)
    map_pairs = args.map_pairs or (1_000 if args.quick else 10_000)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hushan-bench-tlog-") as tmp:
        results = run(Path(tmp), args.quick, size, map_keys, map_pairs)
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
