"""What idempotency keys cost a send, and the bar that retries store nothing twice: one JSON
line per backend.

Run `python -m bench.idempotency --backend sqlite` and `--backend postgres` (`make bench` runs
both). In the same run, alternating rounds so that the shared machine's swings fall on both
alike:
- in process: sends through the engine as the HTTP layer makes them with a key (the write held
  open, the reply kept in its transaction: hushan.api.idempotency) against plain sends;
- over HTTP: sends to a real `hushan serve` on one keep-alive connection, with a new
  `Idempotency-Key` each against none; beside the rates, the server's CPU per send of each
  (utime + stime from /proc), which a loaded machine's swings disturb far less.
Bar (issue 12): keys cost at most 10% of send throughput (keyed / plain ≥ 0.90), and 1,000
sends repeated with the same keys store 1,000 messages.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic_core import to_json

from bench.engine import ADMIN_KEY, log, require, serving_database
from bench.scale import Databases, engine_for, run_on_backend
from bench.serving import tree_cpu_seconds
from hushan.api import shapes
from hushan.service import Hushan
from hushan.service.idempotency import Claim
from hushan.store.base import StoredReply
from hushan.store.held import Hold, holding

# Many short rounds, each side in turn: the shared machine's speed swings by half within
# seconds, and a ratio of medians over many rounds is steadier than over a few long ones.
ROUNDS = 16
ROUND_SECONDS = 1.0
BAR_SENDS = 1000
MIN_RATIO = 0.90
HEADERS = [("content-type", "application/json")]


def keyed_send(engine: Hushan, actor: str, other: str, body: str) -> None:
    """A send as the HTTP layer makes it under a key: its reply kept with its write."""
    claim = Claim(f"user:{actor}", uuid.uuid4().hex, os.urandom(32))
    hold = Hold()
    with holding(hold):
        sent, _ = engine.send(actor, other, body)
    reply = StoredReply(claim.fingerprint, 201, HEADERS, to_json(shapes.message_json(sent)))
    engine.keep_reply(hold, claim, reply)


@dataclass
class Rounds:
    """Calls per second of each side, round after round; over HTTP also the server's CPU
    seconds and calls of each side, summed over the rounds."""

    rates: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))
    cpu: list[float] = field(default_factory=lambda: [0.0, 0.0])
    calls: list[int] = field(default_factory=lambda: [0, 0])


def alternate(
    plain: Callable[[], object],
    keyed: Callable[[], object],
    rounds: int,
    seconds: float,
    cpu: Callable[[], float] | None = None,
) -> Rounds:
    """Each round both in turn."""
    found = Rounds()
    for _ in range(rounds):
        for side, step in enumerate((plain, keyed)):
            calls, used, start = 0, cpu() if cpu else 0.0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds:
                step()
                calls += 1
            found.rates[side].append(calls / elapsed)
            if cpu is not None:
                found.cpu[side] += cpu() - used
                found.calls[side] += calls
    return found


def figure(found: Rounds) -> dict[str, Any]:
    rates = found.rates
    plain, keyed = statistics.median(rates[0]), statistics.median(rates[1])
    ratios = [k / p for p, k in zip(*rates, strict=True)]
    result: dict[str, Any] = {
        "plain_per_s": round(plain),
        "keyed_per_s": round(keyed),
        "ratio": round(keyed / plain, 3),
        "round_ratios": [round(r, 3) for r in ratios],
        "median_round_ratio": round(statistics.median(ratios), 3),
        "limit_min_ratio": MIN_RATIO,
        "ok": keyed / plain >= MIN_RATIO,
    }
    if all(found.calls):
        # The server's CPU per call: what a loaded, shared machine's swings disturb least.
        plain_ms, keyed_ms = (1000 * found.cpu[n] / found.calls[n] for n in (0, 1))
        result["server_cpu_ms_per_call"] = {
            "plain": round(plain_ms, 3),
            "keyed": round(keyed_ms, 3),
        }
        result["cpu_ratio"] = round(plain_ms / keyed_ms, 3)  # as the rates' ratio: keyed / plain
    return result


def in_process(url: str, rounds: int, seconds: float) -> dict[str, Any]:
    engine = engine_for(url, os.urandom(32))
    try:
        engine.create_user("a")
        engine.create_user("b")
        engine.send_request("a", "b")
        engine.accept_request("b", "a")
        return figure(
            alternate(
                lambda: engine.send_message("a", "b", "hello"),
                lambda: keyed_send(engine, "a", "b", "hello"),
                rounds,
                seconds,
            )
        )
    finally:
        engine.store.close()


def over_http(url: str, work: Path, rounds: int, seconds: float) -> dict[str, Any]:
    with (
        serving_database(url, work) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        tokens = {
            who: http.post("/v1/users", headers=admin, json={"id": who}).json()["token"]
            for who in ("a", "b")
        }
        auth = {who: {"Authorization": f"Bearer {t}"} for who, t in tokens.items()}
        http.post("/v1/users/a/requests", headers=auth["a"], json={"to": "b"})
        http.post("/v1/users/b/requests/a/accept", headers=auth["b"])
        message = {"to": "b", "body": "hello"}

        def send(keyed: bool) -> httpx.Response:
            headers = {**auth["a"], **({"Idempotency-Key": uuid.uuid4().hex} if keyed else {})}
            response = http.post("/v1/users/a/messages", headers=headers, json=message)
            require(response.status_code == 201, f"a send answered {response.status_code}")
            return response

        found = figure(
            alternate(
                lambda: send(False),
                lambda: send(True),
                rounds,
                seconds,
                lambda: tree_cpu_seconds(server.process.pid),
            )
        )
        found["repeated"] = repeated(http, auth["a"], BAR_SENDS)
        return found


def repeated(http: httpx.Client, auth: dict[str, str], count: int) -> dict[str, Any]:
    """`count` sends to a new friend, then the same `count` again with their keys."""
    keys = [uuid.uuid4().hex for _ in range(count)]
    other = f"r{uuid.uuid4().hex[:8]}"
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    token = http.post("/v1/users", headers=admin, json={"id": other}).json()["token"]
    http.post("/v1/users/a/requests", headers=auth, json={"to": other})
    http.post(f"/v1/users/{other}/requests/a/accept", headers={"Authorization": f"Bearer {token}"})
    replayed = 0
    for _ in range(2):
        for n, key in enumerate(keys):
            response = http.post(
                "/v1/users/a/messages",
                headers={**auth, "Idempotency-Key": key},
                json={"to": other, "body": f"m{n}"},
            )
            require(response.status_code == 201, f"a keyed send answered {response.status_code}")
            replayed += response.headers.get("idempotent-replayed") == "true"
    stored = 0
    cursor: str | None = None
    while True:
        params: dict[str, Any] = (
            {"limit": 500} if cursor is None else {"limit": 500, "cursor": cursor}
        )
        page = http.get(
            f"/v1/users/a/conversations/{other}/messages", headers=auth, params=params
        ).json()
        stored += len(page["messages"])
        cursor = page["next"]
        if cursor is None:
            break
    return {"sends": 2 * count, "replayed": replayed, "stored": stored, "ok": stored == count}


def run(backend: str, work: Path, quick: bool) -> dict[str, Any]:
    databases = Databases(backend, work)
    rounds, seconds = (2, 0.5) if quick else (ROUNDS, ROUND_SECONDS)
    try:
        log(f"idempotency: in process on {backend}")
        engine_figure = in_process(databases.new("engine"), rounds, seconds)
        log(f"idempotency: over HTTP on {backend}")
        http_figure = over_http(databases.new("http"), work, rounds, seconds)
    finally:
        if backend == "postgres":
            databases.drop()
    return {
        "bench": "idempotency",
        "backend": backend,
        "in_process": engine_figure,
        "http": http_figure,
        "ok": engine_figure["ok"] and http_figure["ok"] and http_figure["repeated"]["ok"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    return run_on_backend("bench.idempotency", __doc__, argv, run)


if __name__ == "__main__":
    raise SystemExit(main())
