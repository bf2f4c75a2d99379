"""hushan's scale benchmark: one JSON line per backend, each figure beside its limit.

Run `python -m bench.scale --backend sqlite` and `--backend postgres` (`make bench` runs both);
`--quick` shrinks every size for a fast sanity check. PostgreSQL is reached at
HUSHAN_BENCH_POSTGRES_URL (default: the local server, as in the tests); the bench makes its
own databases there and drops them at the end.

1. (PostgreSQL) Relationship write transactions (one-way delete + re-add, each pair its own
   client process) vs `pgbench`'s built-in simple-update script with the same client count,
   on the same server with its own settings, in rotation. Limit: at least 30% of pgbench.
2. (PostgreSQL) HTTP message sends under wrk against `hushan serve --workers 2` vs
   `--workers 1`, in rotation in one run. Limit: 2 processes reach 1.5x of 1.
3. (both) 10,000,000 edges loaded through `hushan import` (the documented command, its
   progress bar on the terminal when there is one), then the p99 of a 1,000-pair relation
   check and of listing a user's 500 contacts, vs the same on 100,000 edges. Limit: within
   1.5x.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.engine import (
    Call,
    WrkResult,
    add_quick_option,
    admin_client,
    at_least,
    at_most,
    http_users,
    log,
    median_run,
    message_calls,
    probe,
    raise_on_sigterm,
    require,
    run_wrk,
    serving_database,
    wrk_json,
)
from hushan.clock import ManualClock
from hushan.crypto import Sealer
from hushan.domain.errors import UserExists
from hushan.domain.model import RequestOutcome
from hushan.service import DeleteOutcome, Hushan
from hushan.store import migrate
from hushan.store.base import Store
from hushan.store.postgres import PostgresStore
from hushan.store.sqlite import SqliteStore
from hushan.tlog.note import Signer

PG_URL = os.environ.get(
    "HUSHAN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MIN_PGBENCH_RATIO = 0.30
MIN_SCALE_OUT = 1.5
MAX_GROWTH = 1.5
CLIENTS = 4  # write clients, for pgbench and for hushan alike
HUBS = 10  # users with exactly HUB_CONTACTS contacts, for the contact-list figure
HUB_CONTACTS = 500
CHECK_PAIRS = 1000
FIGURES = ("writes", "scale-out", "graph")


@dataclass(frozen=True, slots=True)
class Sizes:
    write_seconds: int  # each of `rounds` turns, pgbench and hushan alike
    wrk_seconds: int
    rounds: int
    small_edges: int
    big_edges: int
    latency_runs: int  # timed calls per p99


FULL = Sizes(10, 10, 3, 100_000, 10_000_000, 300)
QUICK = Sizes(3, 3, 1, 100_000, 1_000_000, 100)


def percentile(samples: Sequence[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


# ---- databases -------------------------------------------------------------------------------
class Databases:
    """Where each figure's database lives: SQLite files in the work directory, or PostgreSQL
    databases of this run's own, dropped at the end."""

    def __init__(self, backend: str, work: Path) -> None:
        self.backend, self.work = backend, work
        self._made: list[str] = []

    def new(self, name: str) -> str:
        """The URL of a new, migrated database."""
        if self.backend == "sqlite":
            url = f"sqlite:///{self.work / name}.db"
        else:
            url = self.new_postgres(name)
        migrate.upgrade(url)
        return url

    def new_postgres(self, name: str) -> str:
        database = f"hushan_bench_{os.getpid()}_{name}"
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
            admin.execute(f'CREATE DATABASE "{database}"')
        self._made.append(database)
        base, _, query = PG_URL.partition("?")
        return base.rsplit("/", 1)[0] + "/" + database + (f"?{query}" if query else "")

    def drop(self) -> None:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            for database in self._made:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def store_for(url: str) -> Store:
    if url.startswith("sqlite:///"):
        return SqliteStore(Path(url.removeprefix("sqlite:///")))
    return PostgresStore(url)


def engine_for(url: str, key: bytes) -> Hushan:
    signer = Signer.generate("bench.hushan/log")
    return Hushan(store_for(url), Sealer(key), signer, ManualClock())


def key_file(work: Path, url: str) -> Path:
    """The deployment key a command run for `url` reads (written by whoever comes first)."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///") + ".key")
    return work / "hushan.key"


# ---- 1. write transactions vs pgbench ----------------------------------------------------------
def write_client(url: str, n: int, start_at: float, seconds: float) -> None:
    """One client process: befriend its own pair, then delete + re-add from `start_at` for
    `seconds`; prints the number of transactions."""
    engine = engine_for(url, bytes.fromhex(os.environ["HUSHAN_BENCH_KEY"]))
    a, b = f"w{n}a", f"w{n}b"
    for user in (a, b):
        with contextlib.suppress(UserExists):  # made by an earlier round
            engine.create_user(user)
    if engine.relation_check([(a, b)])[0].relation.value != "both_way":
        require(engine.send_request(a, b) is not RequestOutcome.ADDED, "first request waits")
        require(engine.accept_request(b, a) is RequestOutcome.ADDED, "accepted")
    time.sleep(max(0.0, start_at - time.time()))
    deadline, cycles = start_at + seconds, 0
    while time.time() < deadline:
        require(engine.delete_contact(a, b) is DeleteOutcome.DELETED, "one-way delete")
        require(engine.send_request(a, b) is RequestOutcome.ADDED, "re-add at once")
        cycles += 1
    engine.store.close()
    print(2 * cycles, flush=True)


def hushan_writes(url: str, seconds: int, key: bytes) -> float:
    start_at = time.time() + 3.0  # every client connected and set up before the clock starts
    argv = [sys.executable, "-m", "bench.scale", "--write-client", url, str(start_at), str(seconds)]
    clients = [
        subprocess.Popen(
            [*argv, str(n)],
            stdout=subprocess.PIPE,
            text=True,
            env={**bench_env(), "HUSHAN_BENCH_KEY": key.hex()},
        )
        for n in range(CLIENTS)
    ]
    counts = []
    for client in clients:
        out, _ = client.communicate(timeout=seconds + 120)
        require(client.returncode == 0, "write client finished")
        counts.append(int(out.split()[-1]))
    return sum(counts) / seconds


def pgbench(url: str, seconds: int) -> float:
    argv = ["pgbench", "-N", "-n", f"-c{CLIENTS}", f"-j{CLIENTS}", f"-T{seconds}", url]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    require(found is not None, f"pgbench printed its rate:\n{done.stdout}\n{done.stderr}")
    assert found is not None
    return float(found.group(1))


def write_figure(databases: Databases, sizes: Sizes) -> dict[str, Any]:
    hushan_url = databases.new("writes")
    pgbench_url = databases.new_postgres("pgbench")
    subprocess.run(
        ["pgbench", "-i", "-q", f"-s{CLIENTS}", pgbench_url], check=True, capture_output=True
    )
    key = os.urandom(32)
    runs: dict[str, list[float]] = {"pgbench": [], "hushan": []}
    for round_ in range(1, sizes.rounds + 1):
        log(f"1. writes: round {round_}/{sizes.rounds}, pgbench simple-update")
        runs["pgbench"].append(pgbench(pgbench_url, sizes.write_seconds))
        log(f"1. writes: round {round_}/{sizes.rounds}, hushan delete + re-add")
        runs["hushan"].append(hushan_writes(hushan_url, sizes.write_seconds, key))
    base, ours = statistics.median(runs["pgbench"]), statistics.median(runs["hushan"])
    return {
        "clients": CLIENTS,
        "seconds_per_run": sizes.write_seconds,
        "rounds": sizes.rounds,
        "pgbench_simple_update_tps": round(base),
        "hushan_tx_per_s": round(ours),
        "all_runs": {k: [round(v) for v in vs] for k, vs in runs.items()},
        **at_least(ours, base, MIN_PGBENCH_RATIO),
    }


# ---- 2. two API processes vs one ------------------------------------------------------------
def scale_out_figure(databases: Databases, work: Path, sizes: Sizes) -> dict[str, Any]:
    url = databases.new("http")
    found: dict[int, list[WrkResult]] = {1: [], 2: []}
    calls: list[Call] = []
    for round_ in range(1, sizes.rounds + 1):
        for processes in (1, 2):
            log(f"2. scale-out: round {round_}/{sizes.rounds}, {processes} API process(es)")
            workers = ("--workers", str(processes))
            with serving_database(url, work, *workers, log_name=f"serve{processes}.log") as server:
                if not calls:  # the first server makes the users; they stay in the database
                    with admin_client(server) as client:
                        calls = message_calls(http_users(client))
                probe(server, calls[0], 201)
                result = run_wrk(server.url, calls, work / "send.lua", sizes.wrk_seconds)
                found[processes].append(result)
    one, two = median_run(found[1]), median_run(found[2])
    judged = at_least(two.per_second, one.per_second, MIN_SCALE_OUT)
    return {
        "endpoint": "POST /v1/users/{id}/messages, 16 sender/receiver pairs",
        "rounds": sizes.rounds,
        "one_process": wrk_json(one),
        "two_processes": wrk_json(two),
        **judged,
        "ok": judged["ok"] and one.errors == 0 and two.errors == 0,
        "cores": os.cpu_count(),
    }


# ---- 3. a graph of 10,000,000 edges ---------------------------------------------------------
def graph_file(path: Path, edges: int) -> tuple[int, list[str]]:
    """A CSV of `edges` edges: users on a ring, each friends with the five on either side
    (ten edges each, both ways), plus HUBS users with HUB_CONTACTS friends each on the ring.
    Returns the ring's size and the hubs."""
    hub_edges = 2 * HUBS * HUB_CONTACTS
    ring = (edges - hub_edges) // 10
    hubs = [f"h{n:02d}" for n in range(HUBS)]
    with path.open("w") as out:
        out.write("owner,contact\n")
        for i in range(ring):
            me = f"u{i:08d}"
            out.writelines(f"{me},u{(i + d) % ring:08d}\n" for d in (-5, -4, -3, -2, -1))
            out.writelines(f"{me},u{(i + d) % ring:08d}\n" for d in (1, 2, 3, 4, 5))
        step = ring // HUB_CONTACTS
        for h, hub in enumerate(hubs):
            for k in range(HUB_CONTACTS):
                friend = f"u{(k * step + h) % ring:08d}"
                out.write(f"{hub},{friend}\n{friend},{hub}\n")
    return ring, hubs


def import_graph(url: str, work: Path, edges: int) -> tuple[int, list[str], float]:
    source = work / f"edges-{edges}.csv"
    log(f"3. graph: writing {edges:,} edges to a CSV file")
    ring, hubs = graph_file(source, edges)
    log(f"3. graph: hushan import of {edges:,} edges")
    argv = [sys.executable, "-m", "hushan.cli", "import", str(source), "--no-verification"]
    start = time.perf_counter()
    done = subprocess.run(
        argv,
        env={**bench_env(), "HUSHAN_DATABASE_URL": url},
        cwd=work,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    require(f"imported {edges:,} edges" in done.stdout, f"import reported: {done.stdout}")
    source.unlink()
    return ring, hubs, seconds


def timed(call: Callable[[], object], runs: int) -> list[float]:
    for _ in range(max(5, runs // 10)):  # warm caches and statement plans first
        call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def latencies(engine: Hushan, ring: int, hubs: list[str], runs: int) -> dict[str, float]:
    rng = random.Random(7)

    def pairs() -> list[tuple[str, str]]:
        picked = []
        for n in range(CHECK_PAIRS):
            i = rng.randrange(ring)
            j = (i + rng.choice((1, 2, 3, 4, 5))) % ring if n % 2 else rng.randrange(ring)
            picked.append((f"u{i:08d}", f"u{j:08d}"))
        return picked

    batches = [pairs() for _ in range(runs + max(5, runs // 10))]
    require(
        engine.relation_check(batches[0][1::2])[0].relation.value == "both_way",
        "ring neighbours are friends",
    )
    require(len(engine.list_contacts(hubs[0])) == HUB_CONTACTS, "a hub has 500 contacts")
    checks = iter(batches)
    check = timed(lambda: engine.relation_check(next(checks)), runs)
    hub_names = iter(hubs * runs)
    listing = timed(lambda: engine.list_contacts(next(hub_names)), runs)
    return {
        "check_p50_ms": statistics.median(check) * 1000,
        "check_p99_ms": percentile(check, 99) * 1000,
        "list_p50_ms": statistics.median(listing) * 1000,
        "list_p99_ms": percentile(listing, 99) * 1000,
    }


def graph_figure(databases: Databases, work: Path, sizes: Sizes) -> dict[str, Any]:
    found: dict[int, dict[str, float]] = {}
    for edges in (sizes.small_edges, sizes.big_edges):
        url = databases.new(f"graph{edges}")
        ring, hubs, seconds = import_graph(url, work, edges)
        log(f"3. graph: p99 of the relation check and the contact list on {edges:,} edges")
        engine = engine_for(url, key_file(work, url).read_bytes())
        try:
            timings = latencies(engine, ring, hubs, sizes.latency_runs)
            found[edges] = {"import_s": seconds, **timings}
        finally:
            engine.store.close()
    small, big = found[sizes.small_edges], found[sizes.big_edges]

    def rounded(figures: dict[str, float]) -> dict[str, float]:
        return {k: round(v, 3) for k, v in figures.items()}

    return {
        "runs": sizes.latency_runs,
        f"at_{sizes.small_edges}_edges": rounded(small),
        f"at_{sizes.big_edges}_edges": rounded(big),
        "import_edges_per_s": round(sizes.big_edges / big["import_s"]),
        "relation_check_1000_pairs_p99": at_most(
            big["check_p99_ms"], small["check_p99_ms"], MAX_GROWTH
        ),
        "list_500_contacts_p99": at_most(big["list_p99_ms"], small["list_p99_ms"], MAX_GROWTH),
    }


# ---- running ---------------------------------------------------------------------------------
def bench_env() -> dict[str, str]:
    """The environment of child processes: `-m bench.scale` must resolve to this file."""
    return {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}


def run(
    backend: str, work: Path, sizes: Sizes, quick: bool, figures: Sequence[str]
) -> dict[str, Any]:
    databases = Databases(backend, work)
    results: dict[str, Any] = {"bench": "scale", "backend": backend, "quick": quick}
    try:
        if backend == "postgres" and "writes" in figures:
            results["writes_vs_pgbench"] = write_figure(databases, sizes)
        if backend == "postgres" and "scale-out" in figures:
            results["two_api_processes_vs_one"] = scale_out_figure(databases, work, sizes)
        if "graph" in figures:
            results["graph_growth"] = graph_figure(databases, work, sizes)
    finally:
        if backend == "postgres":
            databases.drop()
    return results


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """--backend and --quick, as every per-backend bench takes them."""
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    add_quick_option(parser)


def run_on_backend(
    prog: str,
    doc: str | None,
    argv: Sequence[str] | None,
    run_one: Callable[[str, Path, bool], dict[str, Any]],
) -> int:
    """The whole of a per-backend bench's `main`: parse --backend/--quick, run in a work
    directory, print the JSON line."""
    parser = argparse.ArgumentParser(prog=prog, description=doc)
    add_backend_options(parser)
    args = parser.parse_args(argv)
    with work_directory() as work:
        print(json.dumps(run_one(args.backend, work, args.quick)), flush=True)
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    add_backend_options(parser)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=FIGURES,
        default=FIGURES,
        help="run only these figures (default: all; writes and scale-out are PostgreSQL's)",
    )
    parser.add_argument("--write-client", nargs=4, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


@contextlib.contextmanager
def work_directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hushan-scale-") as tmp:
        yield Path(tmp)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.write_client:
        url, start_at, seconds, n = args.write_client
        write_client(url, int(n), float(start_at), float(seconds))
        return 0
    missing = [tool for tool in ("wrk", "pgbench") if shutil.which(tool) is None]
    if args.backend == "postgres" and missing:
        log(f"not installed: {', '.join(missing)} (apt-get install -y wrk postgresql-client)")
        return 2
    raise_on_sigterm()
    started = time.monotonic()
    with work_directory() as work:
        sizes = QUICK if args.quick else FULL
        results = run(args.backend, work, sizes, args.quick, args.only)
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
