"""hushan on a Citus cluster against one plain PostgreSQL, in the same run: one JSON line.

    python -m bench.citus --citus URL --postgres URL [--users N] [--hub-contacts N]

`--citus` names a database on a cluster's coordinator with the extension on every node and the
workers added (`scripts/citus-cluster database DIR PORT NAME` makes one); `--postgres` an empty
database on a plain server. Both are migrated here (the first with the schema distributed) and
loaded the same way through the engine, then measured the same way, one after the other:
- write rate: one-way delete and re-add of one pair (as bench/scale.py), one client,
  transactions a second;
- p50 and p99 of a relation check of 100 pairs of random users;
- p50 and p99 of listing a hub's contacts.
Both graphs are loaded by `hushan import` (a ring of `--users` friends and a hub of
`--hub-contacts`). Sizes default to a small run; `--users 500000 --hub-contacts 5000` gives
1,010,000 edges. A rebalance under write load is tests/test_citus_rebalance.py.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from bench.engine import log, require
from hushan.clock import ManualClock
from hushan.crypto import Sealer
from hushan.domain.model import PairRelation, RequestOutcome
from hushan.importer import import_edges
from hushan.service import DeleteOutcome, Hushan
from hushan.store import migrate
from hushan.store.postgres import PostgresStore
from hushan.tlog.note import Signer


def _percentiles(samples: Sequence[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 2), "p99_ms": round(cuts[98] * 1000, 2)}


def _timed(call: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def _edges(users: int, hub_contacts: int) -> Iterator[str]:
    """A ring of friends (each user with the next) and one hub befriended by the first
    `hub_contacts` users: 2 × (users + hub_contacts) edges, as `hushan import` lines."""
    for n in range(users):
        a, b = f"u{n:06d}", f"u{(n + 1) % users:06d}"
        yield f"{a},{b}"
        yield f"{b},{a}"
    for n in range(hub_contacts):
        yield f"u{n:06d},hub"
        yield f"hub,u{n:06d}"


def _load(engine: Hushan, users: int, hub_contacts: int) -> None:
    """The graph, by `hushan import` (what moves an existing graph in; on both backends the
    same statements but for the cluster's joins of its staging tables)."""
    import_edges(engine, _edges(users, hub_contacts), verification_required=False, events=False)


def befriend_once(engine: Hushan, a: str, b: str) -> None:
    for user in (a, b):
        engine.create_user(user, verification_required=False)
    engine.send_request(a, b)
    engine.accept_request(b, a)


def measure(url: str, citus: bool, users: int, hub_contacts: int, runs: int) -> dict[str, Any]:
    migrate.upgrade(url, citus=citus)
    store = PostgresStore(url)
    engine = Hushan(store, Sealer(os.urandom(32)), Signer.generate("bench/log"), ManualClock())
    try:
        started = time.perf_counter()
        _load(engine, users, hub_contacts)
        load_s = time.perf_counter() - started
        require(store.citus is citus, "the store runs the backend's statements")
        require(len(engine.list_contacts("hub")) == hub_contacts, "the hub's contacts")
        befriend_once(engine, "wa", "wb")
        cycles, started = 0, time.perf_counter()
        while time.perf_counter() - started < 5:
            require(engine.delete_contact("wa", "wb") is DeleteOutcome.DELETED, "deleted")
            require(engine.send_request("wa", "wb") is RequestOutcome.ADDED, "re-added")
            cycles += 1
        writes_per_s = cycles * 2 / (time.perf_counter() - started)
        rng = random.Random(7)
        ids = [f"u{n:06d}" for n in range(users)]
        batch = [(rng.choice(ids), rng.choice(ids)) for _ in range(100)]
        ring = (ids[0], ids[1])
        require(engine.relation_check([ring])[0].relation is PairRelation.BOTH_WAY, "ring friends")
        return {
            "backend": "citus" if citus else "postgres",
            "load_s": round(load_s, 1),
            "write_tx_per_s": round(writes_per_s, 1),
            "relation_check_100_pairs": _percentiles(
                _timed(lambda: engine.relation_check(batch), runs)
            ),
            f"list_{hub_contacts}_contacts": _percentiles(
                _timed(lambda: engine.list_contacts("hub"), runs)
            ),
        }
    finally:
        store.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--citus", required=True, help="a database on a Citus coordinator")
    parser.add_argument("--postgres", required=True, help="an empty plain PostgreSQL database")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--hub-contacts", type=int, default=200)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args(argv)
    figures = []
    for url, citus in ((args.postgres, False), (args.citus, True)):
        log(f"{'citus' if citus else 'postgres'}: loading {args.users} users")
        figures.append(measure(url, citus, args.users, args.hub_contacts, args.runs))
    plain, cluster = figures
    print(
        json.dumps(
            {
                "edges": 2 * (args.users + args.hub_contacts),
                "postgres": plain,
                "citus": cluster,
                "citus_write_rate_over_postgres": round(
                    cluster["write_tx_per_s"] / plain["write_tx_per_s"], 3
                ),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
