"""One side of the race between a legal hold and a purge, as a process of its own (see
tests/test_holds_race.py). Each side says it is ready (a file named after its role in the
folder `sync`), then waits for the test's `go` file there: the wall-clock moment `start_at` and
a `window` in seconds, set once both are up, so that a slow start on a loaded machine never
lets one side run its whole course before the other begins. Then `sweep` runs sweeps one after
another (histories fall due over the window), and `place` places a hold on each pair
`ha{n}`/`hb{n}` in a shuffled order, evenly over the window, printing each outcome as a JSON
line. The database and the key files come from the environment and the working directory, as
for `hushan`."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from hushan.bootstrap import build
from hushan.config import Settings
from hushan.domain.errors import HistoryAlreadyPurged

READY_TIMEOUT = 120.0


def go_signal(sync: Path) -> tuple[float, float]:
    """Say this side is ready, then wait for the test's `go`: (start_at, window)."""
    go = sync / "go"
    deadline = time.monotonic() + READY_TIMEOUT
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.01)
    start_at, window = go.read_text().split()
    return float(start_at), float(window)


def main(role: str, pairs: int, sync: Path) -> None:
    engine = build(Settings())
    try:
        (sync / role).touch()
        start_at, window = go_signal(sync)
        time.sleep(max(0.0, start_at - time.time()))
        if role == "sweep":
            while time.time() < start_at + window:
                engine.sweep()
            return
        order = list(range(pairs))
        random.Random(pairs).shuffle(order)
        for i, n in enumerate(order):
            time.sleep(max(0.0, start_at + window * i / pairs - time.time()))
            try:
                hold = engine.place_hold(f"ha{n}", f"hb{n}", "race", f"R-{n}")
                print(json.dumps({"n": n, "placed": hold.id}), flush=True)
            except HistoryAlreadyPurged:
                print(json.dumps({"n": n, "placed": None}), flush=True)
    finally:
        engine.store.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
