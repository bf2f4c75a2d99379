"""The legal-hold benchmark: the purge sweep with 10,000 due histories, 10% of them held,
against the same sweep with none held, in the same run. Bar: at most 1.2 times as long.

Run `python -m bench.hold` (`--quick` for a short run). Both fixtures are one SQLite database
of buffered conversations, due since yesterday, with a few messages each (bench.engine's purge
fixture); the held one also has a pair hold, placed through the engine, on every tenth pair.
Each run sweeps a fresh copy of each, the two alternated, and the medians are compared. The
sweep timed is what the service's sweep does for the purge: holds past their expiry, then
every step of `hushan.purge` (keys, rows, the deferrals of what the holds cover). Progress goes
to stderr; stdout gets one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.engine import (
    PurgeFixture,
    at_most,
    build_purge_fixture,
    engine_on,
    log,
    opened,
    party,
    remove_database,
    require,
)

MAX_RATIO = 1.2
HELD_EVERY = 10  # one history in ten is held


def held_fixture(base: PurgeFixture) -> PurgeFixture:
    """A copy of `base` with a pair hold on every tenth conversation, placed by the engine,
    its log entries published (the sweep is timed, not the log's catching up)."""
    path = base.path.with_name("held-" + base.path.name)
    shutil.copyfile(base.path, path)
    shutil.copyfile(
        base.path.with_name(base.path.name + ".key"), path.with_name(path.name + ".key")
    )
    with opened(engine_on(path, base.key)) as engine:
        for cid in range(1, base.conversations + 1, HELD_EVERY):
            engine.place_hold(party(cid, 0), party(cid, 1), "bench", f"B-{cid}")
        engine.log.publish()
    return PurgeFixture(path, base.key, base.conversations, base.each)


def timed_sweep(fixture: PurgeFixture, held: int) -> float:
    scratch = fixture.path.with_name("scratch-" + fixture.path.name)
    shutil.copyfile(fixture.path, scratch)
    os.sync()  # no write-back of the copy behind the timing
    try:
        with opened(engine_on(scratch, fixture.key)) as engine:
            start = time.perf_counter()
            engine.expire_holds()
            report = engine.purger.sweep()
            elapsed = time.perf_counter() - start
    finally:
        remove_database(scratch)
    purged = fixture.conversations - held
    require(report.keys_destroyed == purged, f"keys destroyed: {report}")
    require(report.purges_deferred == held, f"purges deferred: {report}")
    require(report.rows_deleted == purged * fixture.each, f"rows deleted: {report}")
    return elapsed


def run(work: Path, quick: bool) -> dict[str, Any]:
    conversations, each, runs = (2_000, 5, 3) if quick else (10_000, 10, 5)
    base = build_purge_fixture(work, conversations, each)
    log(f"hold: placing a hold on every {HELD_EVERY}th of {conversations} pairs")
    held = held_fixture(base)
    count = len(range(1, conversations + 1, HELD_EVERY))
    times: tuple[list[float], list[float]] = ([], [])
    for n in range(runs):
        log(f"hold: run {n + 1} of {runs}")
        order = [(0, base, 0), (1, held, count)]
        for which, fixture, holds in order if n % 2 else reversed(order):
            times[which].append(timed_sweep(fixture, holds))
    none_s, held_s = statistics.median(times[0]), statistics.median(times[1])
    return {
        "bench": "hold",
        "backend": "sqlite",
        "quick": quick,
        "due_histories": conversations,
        "messages": conversations * each,
        "held": count,
        "runs": runs,
        "sweep_s_median_none_held": round(none_s, 3),
        "sweep_s_median_10pct_held": round(held_s, 3),
        **at_most(held_s, none_s, MAX_RATIO),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser("python -m bench.hold", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run, for a sanity check")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("HUSHAN_BENCH_QUICK") == "1"
    with tempfile.TemporaryDirectory(prefix="hushan-bench-hold-") as work:
        print(json.dumps(run(Path(work), quick)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
