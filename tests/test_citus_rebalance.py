"""A worker added to a running cluster and the shards rebalanced onto it while writes go on:
no acknowledged write is lost or doubled (issue 18). It changes the cluster for good, so only
`scripts/test-citus` runs it, first, naming a spare port in HUSHAN_TEST_CITUS_SPARE; the
cluster cases it runs next (the race tests among them) then run on three workers."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from hushan.domain.errors import Busy
from hushan.service import Hushan
from tests.conftest import CITUS, Backends
from tests.drive import befriend

# "DIR PORT N": the cluster's folder, its coordinator's port, and the new worker's offset.
SPARE = os.environ.get("HUSHAN_TEST_CITUS_SPARE", "")
pytestmark = pytest.mark.skipif(
    not (CITUS and SPARE), reason="needs scripts/test-citus (a cluster and a spare port)"
)

PAIRS = 24
WRITERS = 4
CLUSTER_SCRIPT = Path(__file__).parents[1] / "scripts" / "citus-cluster"


class Writes:
    """Messages sent by a few threads until told to stop: each acknowledged one is kept, with
    when it was acknowledged."""

    def __init__(self, engine: Hushan, pairs: list[tuple[str, str]]) -> None:
        self.engine, self.pairs = engine, pairs
        self.stop = threading.Event()
        self.acknowledged: dict[tuple[str, str], list[str]] = {pair: [] for pair in pairs}
        self.times: list[float] = []
        self.busy = 0
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()

    def run(self, writer: int) -> None:
        n = 0
        while not self.stop.is_set():
            pair = self.pairs[(writer + n * WRITERS) % len(self.pairs)]
            body = f"w{writer}-{n}"
            n += 1
            try:
                self.engine.send_message(pair[0], pair[1], body)
            except Busy:  # a lock a shard move held too long: not acknowledged, retried anew
                with self._lock:
                    self.busy += 1
                continue
            except BaseException as error:  # noqa: BLE001 - reported by the test
                with self._lock:
                    self.errors.append(error)
                return
            with self._lock:
                self.acknowledged[pair].append(body)
                self.times.append(time.monotonic())


def _placements(url: str, port: int) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_dist_shard_placement WHERE nodeport = %s", (port,)
        ).fetchone()
    assert row is not None
    return int(str(row[0]))


def test_a_worker_added_under_write_load_loses_no_acknowledged_write(
    request: pytest.FixtureRequest,
) -> None:
    directory, port, offset = SPARE.split()
    new_port = int(port) + int(offset)
    made = Backends("citus", request)
    engine = made.engine()
    url = engine.store.url  # type: ignore[attr-defined]
    pairs = [(f"ra{n}", f"rb{n}") for n in range(PAIRS)]
    for a, b in pairs:
        befriend(engine, a, b)
    writes = Writes(engine, pairs)
    threads = [threading.Thread(target=writes.run, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)  # writes under way before the node comes
        subprocess.run([str(CLUSTER_SCRIPT), "add", directory, port, offset], check=True)
        started = time.monotonic()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT citus_rebalance_start()")
            conn.execute("SELECT citus_rebalance_wait()")
        ended = time.monotonic()
        time.sleep(1)  # and after it is done
    finally:
        writes.stop.set()
        for thread in threads:
            thread.join()
    try:
        assert not writes.errors, writes.errors[:3]
        assert _placements(url, new_port) > 0, "no shard moved to the new worker"
        during = sum(started <= t <= ended for t in writes.times)
        assert during > 0, "no write was acknowledged while the shards moved"
        for (a, b), sent in writes.acknowledged.items():
            for reader, other in ((a, b), (b, a)):
                bodies = [m.body for m in engine.history(reader, other, limit=100_000).messages]
                assert sorted(bodies) == sorted(sent), (reader, other)
        print(
            f"rebalance: {ended - started:.1f} s; {sum(map(len, writes.acknowledged.values()))}"
            f" writes acknowledged, {during} during the moves, {writes.busy} refused busy"
        )
    finally:
        made.close()
