"""Two worlds, timed: does B's friend request to A take longer when A silently removed B?

Run `python -m bench.two_worlds --backend sqlite` (or `postgres`). Pairs A-B are friends with a
short history; in half of them A removed B. B then sends A a request, which answers
`already_friends` in both worlds: where A removed B it also reaches A, where not it changes
nothing. Both write one transaction (the request's audit entry, and in the removed world the
request itself). Each sample is the first request of a fresh pair, the two worlds in turn
(the order flipped every sample), timed in process and through HTTP on a real `hushan serve`.

The figure: the difference of the medians beside the noise of one request, the interquartile
range of the same world's samples. The difference should stay well inside that noise.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.engine import log, require, serving_database
from bench.scale import Databases, engine_for, key_file, run_on_backend
from hushan.crypto import load_or_create_deployment_key
from hushan.service import Hushan

SAMPLES = 300


def make_pairs(engine: Hushan, world: str, count: int) -> list[tuple[str, str, str]]:
    """`count` pairs (a, b, b's token), friends with a message each way; in the `removed`
    world a has removed b."""
    pairs = []
    for n in range(count):
        a, b = f"{world}{n:04d}a", f"{world}{n:04d}b"
        engine.create_user(a)
        token = engine.create_user(b)[1]
        engine.send_request(a, b)
        engine.accept_request(b, a)
        engine.send_message(a, b, "hello")
        engine.send_message(b, a, "hello")
        if world == "removed":
            engine.delete_contact(a, b)
        pairs.append((a, b, token))
    return pairs


def alternating(
    kept: list[tuple[str, str, str]],
    removed: list[tuple[str, str, str]],
    request: Callable[[tuple[str, str, str]], None],
) -> tuple[list[float], list[float]]:
    """Microseconds of each world's request, one pair of each world per sample."""
    times: dict[str, list[float]] = {"kept": [], "removed": []}
    for n, pairs in enumerate(zip(kept, removed, strict=True)):
        order = [("kept", pairs[0]), ("removed", pairs[1])]
        for world, pair in order if n % 2 else reversed(order):
            start = time.perf_counter()
            request(pair)
            times[world].append((time.perf_counter() - start) * 1e6)
    return times["kept"], times["removed"]


def summary(kept: list[float], removed: list[float]) -> dict[str, Any]:
    quartiles = statistics.quantiles(kept, n=4)
    noise = quartiles[2] - quartiles[0]
    difference = statistics.median(removed) - statistics.median(kept)
    return {
        "median_kept_us": round(statistics.median(kept), 1),
        "median_removed_us": round(statistics.median(removed), 1),
        "difference_us": round(difference, 1),
        "noise_iqr_us": round(noise, 1),
        "difference_over_noise": round(difference / noise, 3) if noise else None,
    }


def run(backend: str, work: Path, quick: bool) -> dict[str, Any]:
    samples = 60 if quick else SAMPLES
    databases = Databases(backend, work)
    try:
        url = databases.new("two_worlds")
        engine = engine_for(url, load_or_create_deployment_key(key_file(work, url)))
        try:
            log(f"two worlds: {samples} pairs in each world, for each of two ways")
            in_process = {w: make_pairs(engine, f"p{w}", samples) for w in ("kept", "removed")}
            over_http = {w: make_pairs(engine, f"h{w}", samples) for w in ("kept", "removed")}

            def engine_request(pair: tuple[str, str, str]) -> None:
                require(engine.send_request(pair[1], pair[0], "hi").value == "already_friends", "")

            log("two worlds: in process")
            direct = alternating(in_process["kept"], in_process["removed"], engine_request)
        finally:
            engine.store.close()
        with (
            serving_database(url, work) as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):

            def http_request(pair: tuple[str, str, str]) -> None:
                a, b, token = pair
                reply = client.post(
                    f"/v1/users/{b}/requests",
                    json={"to": a, "message": "hi"},
                    headers={"authorization": f"Bearer {token}"},
                )
                require(reply.json().get("status") == "already_friends", reply.text)

            log("two worlds: through HTTP")
            http = alternating(over_http["kept"], over_http["removed"], http_request)
    finally:
        if backend == "postgres":
            databases.drop()
    return {
        "bench": "two_worlds",
        "backend": backend,
        "quick": quick,
        "samples": samples,
        "in_process": summary(*direct),
        "http": summary(*http),
    }


def main(argv: Sequence[str] | None = None) -> int:
    return run_on_backend("python -m bench.two_worlds", __doc__, argv, run)


if __name__ == "__main__":
    sys.exit(main())
