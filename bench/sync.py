"""The device sync feed's benchmark: one JSON line per backend, each figure beside its limit.

Run `python -m bench.sync --backend sqlite` and `--backend postgres` (`make bench` runs both).

1. Catch-up: a device that missed 100,000 changes (messages to its user, sent through the
   engine beforehand) reads them all through HTTP from a real `hushan serve`, 1,000 a page,
   decrypting every message. Limit: under 3 s. The same catch-up as one Server-Sent Events
   stream is reported beside it.
2. Idle long-polls: 1,000 users each hold a long-poll (`wait=60`) on their device, with
   nothing happening; the CPU time the server's processes use over 10 s of that is the figure.
   Limit: 0.1 s of CPU (1% of one core): waiting must cost nothing to speak of.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.engine import admin_client, log, require, serving_database
from bench.scale import Databases, engine_for, key_file, run_on_backend
from hushan.crypto import load_or_create_deployment_key
from hushan.service import Hushan

CHANGES = 100_000
PAGE = 1000
MAX_CATCH_UP_SECONDS = 3.0
IDLE_CLIENTS = 1000
IDLE_SECONDS = 10.0
MAX_IDLE_CPU_SECONDS = 0.1
TICKS = 100  # clock ticks per second in /proc (USER_HZ)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (the `serve` tree), from /proc."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def load_messages(engine: Hushan, count: int) -> str:
    """`me` with a device registered before `count` messages from `friend`; the device's id."""
    engine.create_user("me")
    engine.create_user("friend", verification_required=False)
    engine.send_request("me", "friend")
    device = engine.register_device("me", "phone").id
    started = time.monotonic()
    for n in range(count):
        engine.send_message("friend", "me", f"message {n:06d} " + "x" * 40)
        if n and n % 20_000 == 0:
            log(f"sync: {n:,} messages ({n / (time.monotonic() - started):,.0f}/s)")
    return device


def catch_up(client: httpx.Client, device: str, token: str, expected: int) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"}
    path = f"/v1/users/me/devices/{device}/changes"
    cursor: int | None = None  # first: from the device's own cursor, its registration
    seen, pages, last = 0, 0, 0
    started = time.perf_counter()
    while True:
        params = {"limit": PAGE} if cursor is None else {"after": cursor, "limit": PAGE}
        reply = client.get(path, params=params, headers=headers)
        require(reply.status_code == 200, f"changes: {reply.status_code} {reply.text[:200]}")
        page = reply.json()
        for change in page["changes"]:
            require(change["seq"] > last, "in order, no duplicate")
            last = change["seq"]
        seen += len(page["changes"])
        pages += 1
        cursor = page["next_cursor"]
        if not page["more"]:
            break
    seconds = time.perf_counter() - started
    require(seen == expected, f"caught up on {seen} of {expected} changes")
    return {
        "changes": seen,
        "pages": pages,
        "seconds": round(seconds, 3),
        "changes_per_second": round(seen / seconds),
        "limit_seconds": MAX_CATCH_UP_SECONDS,
        "ok": seconds < MAX_CATCH_UP_SECONDS,
    }


def catch_up_by_events(client: httpx.Client, device: str, token: str, expected: int) -> float:
    """The same catch-up as one Server-Sent Events stream, read until `caught_up`."""
    headers = {"authorization": f"Bearer {token}"}
    seen, last = 0, 0
    started = time.perf_counter()
    path = f"/v1/users/me/devices/{device}/events"
    with client.stream("GET", path, headers=headers) as stream:
        name = ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name == "changes":
                for change in json.loads(line[6:])["changes"]:
                    require(change["seq"] > last, "in order, no duplicate")
                    seen, last = seen + 1, change["seq"]
            elif line.startswith("data: ") and name == "caught_up":
                break
    seconds = time.perf_counter() - started
    require(seen == expected, f"streamed {seen} of {expected} changes")
    return seconds


async def hold_long_polls(url: str, waiters: list[tuple[str, str, str]], pid: int) -> float:
    """Start every long-poll, let them settle, and return the server's CPU over the window."""
    limits = httpx.Limits(max_connections=len(waiters) + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:

        async def poll(user: str, device: str, token: str) -> int:
            reply = await client.get(
                f"/v1/users/{user}/devices/{device}/changes",
                params={"wait": 60},
                headers={"authorization": f"Bearer {token}"},
            )
            return reply.status_code

        tasks = [asyncio.create_task(poll(*w)) for w in waiters]
        await asyncio.sleep(5)  # every poll has arrived and is waiting
        require(not any(t.done() for t in tasks), "every long-poll is still waiting")
        before = cpu_seconds(pid)
        await asyncio.sleep(IDLE_SECONDS)
        used = cpu_seconds(pid) - before
        require(not any(t.done() for t in tasks), "every long-poll waited the whole window")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return used


def run(backend: str, work: Path, quick: bool) -> dict[str, Any]:
    databases = Databases(backend, work)
    count, clients = (10_000, 200) if quick else (CHANGES, IDLE_CLIENTS)
    try:
        url = databases.new("sync")
        engine = engine_for(url, load_or_create_deployment_key(key_file(work, url)))
        try:
            log(f"sync: {count:,} messages to one user, {clients:,} idle users")
            device = load_messages(engine, count)
            waiters = []
            for n in range(clients):
                _, token = engine.create_user(f"idle{n:04d}")
                waiters.append(
                    (f"idle{n:04d}", engine.register_device(f"idle{n:04d}", "d").id, token)
                )
        finally:
            engine.store.close()
        with serving_database(url, work) as server:
            with admin_client(server) as admin:
                token = admin.post("/v1/users/me/tokens").json()["token"]
                log("sync: 1. catch-up through HTTP")
                catch_up(admin, device, token, count)  # warm-up: the figure is the second run
                caught_up = catch_up(admin, device, token, count)
                log("sync: 1. catch-up as one Server-Sent Events stream")
                streamed = catch_up_by_events(admin, device, token, count)
            log(f"sync: 2. {clients:,} idle long-polls for {IDLE_SECONDS:.0f} s")
            cpu = asyncio.run(hold_long_polls(server.url, waiters, server.process.pid))
    finally:
        if backend == "postgres":
            databases.drop()
    return {
        "bench": "sync",
        "backend": backend,
        "quick": quick,
        "catch_up": caught_up,
        "informational_catch_up_as_events_seconds": round(streamed, 3),
        "idle_long_polls": {
            "clients": clients,
            "seconds": IDLE_SECONDS,
            "server_cpu_seconds": round(cpu, 3),
            "limit_cpu_seconds": MAX_IDLE_CPU_SECONDS,
            "ok": cpu <= MAX_IDLE_CPU_SECONDS,
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    return run_on_backend("python -m bench.sync", __doc__, argv, run)


if __name__ == "__main__":
    sys.exit(main())
