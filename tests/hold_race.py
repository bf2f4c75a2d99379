"""One side of the race between a legal hold and a purge, as a process of its own (see
tests/test_holds_race.py). Both wait for the wall-clock moment `start_at`, then for `window`
seconds: `sweep` runs sweeps one after another (histories fall due over the window), `place`
places a hold on each pair `ha{n}`/`hb{n}` in a shuffled order, evenly over the window, and
prints each outcome as a JSON line. The database and the key files come from the environment
and the working directory, as for `hushan`."""

from __future__ import annotations

import json
import random
import sys
import time

from hushan.bootstrap import build
from hushan.config import Settings
from hushan.domain.errors import HistoryAlreadyPurged


def main(role: str, pairs: int, start_at: float, window: float) -> None:
    engine = build(Settings())
    try:
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
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))
