"""The webhooks benchmark: one JSON line per backend, each figure beside its bar.

Run `python -m bench.webhooks --backend sqlite` (or `postgres`; `--quick` for a short run).

- Outbox cost: the in-process write rate (delete + re-add of a pair, two transactions a cycle)
  with one subscribed endpoint (relaying and sending are the worker's, another process) against
  the same with no endpoint. Bar: the rate with the endpoint is at least 90% of it. The
  same writes with the outbox insert switched off are reported too, as the outbox's own cost.
- Drain rate: events already in the outbox (over many pairs: a pair's events go one at a time)
  delivered by one worker (`Deliverer`, keep-alive connections) to a healthy receiver process on
  127.0.0.1. Bar: at least 2,000 events/s.
- Chaos: events over many pairs sent to a receiver process (`bench.chaos_receiver`) that
  answers 500 to about half the attempts at random and stalls on some past the timeout, the
  test clock driven from one due time to the next through the retry schedule. Reported: the
  share delivered within the schedule and after one replay of the dead letters (bar: 100%),
  every signature verified with the `standardwebhooks` package (as of when it was received, as a
  receiver verifies: the package allows five minutes, and a slow run is checked once over),
  per-pair order held (a pair's accepted events arrive in `seq` order), and the duplicate
  attempts (an id accepted again).
- Sync rate: a linked platform whose receiver answers 500 to about half the attempts at first
  and recovers (the retry schedule, then a replay of any dead letter): its sync rate, acknowledged
  over emitted events, beside the 63% the source article measured for other platforms' sync with
  WeChat deletions. Bar: 100%.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from unittest.mock import patch

from standardwebhooks import Webhook, WebhookVerificationError

from bench.engine import at_least, log, require
from bench.scale import Databases, engine_for, run_on_backend
from hushan.clock import ManualClock
from hushan.delivery import Deliverer
from hushan.domain.platforms import ARTICLE_SYNC_RATE, AssetPolicy, PermissionPolicy
from hushan.domain.webhooks import DeliveryState
from hushan.service import Hushan
from hushan.store.outbox_sql import OutboxSql

MIN_WRITE_RATIO = 0.9
ROUNDS = 5
MIN_DRAIN_PER_SECOND = 2000.0
STALL_SHARE = 0.01  # of the attempts, stalled past the timeout


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.receiver"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        process.wait(timeout=10)


def _no_events(self: OutboxSql, count: int) -> None:
    """The outbox switched off, for its own cost."""


def pair(engine: Hushan, n: int) -> tuple[str, str]:
    a, b = f"w{n}a", f"w{n}b"
    engine.create_user(a, verification_required=False)
    engine.create_user(b, verification_required=False)
    engine.send_request(a, b)
    return a, b


def cycles(engine: Hushan, a: str, b: str, seconds: float) -> float:
    """Delete + re-add for `seconds`; writes per second."""
    deadline, done = time.perf_counter() + seconds, 0
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        engine.delete_contact(a, b)
        engine.send_request(a, b)  # b still has a: the re-add succeeds at once
        done += 2
    return done / (time.perf_counter() - start)


def write_rates(engine: Hushan, url: str, seconds: float) -> tuple[float, float, float]:
    """The median write rate with no endpoint, with one subscribed endpoint (relaying and
    sending are the worker's, another process: the write path pays only for the outbox rows),
    and with the outbox switched off; measured by turns, so a busy moment of the machine
    falls on all three alike."""
    couples = [pair(engine, n) for n in range(3)]
    rates: list[list[float]] = [[], [], []]
    for _ in range(ROUNDS):
        rates[0].append(cycles(engine, *couples[0], seconds / ROUNDS))
        endpoint, _ = engine.create_endpoint(url, ["contact.removed", "contact.added"])
        rates[1].append(cycles(engine, *couples[1], seconds / ROUNDS))
        engine.delete_endpoint(endpoint.id)
        with patch.object(OutboxSql, "_emit_events", _no_events):
            rates[2].append(cycles(engine, *couples[2], seconds / ROUNDS))
    none, one, bare = (statistics.median(r) for r in rates)
    return none, one, bare


def drain_rate(engine: Hushan, url: str, events: int, pairs: int) -> tuple[int, float]:
    """`events` events over `pairs` pairs (and their setup's), relayed, then sent by one worker
    until none is left; (events delivered, per second)."""
    with engine.store.write() as tx:  # the write benchmark's endpoints: out of the way
        for endpoint in tx.list_endpoints():
            tx.delete_endpoint(endpoint.id)
    endpoint, _ = engine.create_endpoint(url, ["contact.removed", "contact.added"])
    made, couples = 0, [pair(engine, 1000 + n) for n in range(pairs)]
    while made < events:
        for a, b in couples:
            engine.delete_contact(a, b)
            engine.send_request(a, b)
            made += 2
    engine.relay_events()
    # Statistics, as a running deployment has them (autovacuum's): with none, PostgreSQL plans
    # the claim over a table it takes for empty, and reads every pending delivery at each one.
    engine.store.after_bulk_load()
    sender = Deliverer(engine, timeout=5, batch=500, threads=8)
    try:
        start, sent = time.perf_counter(), 0
        while attempts := sender.run_once():
            sent += attempts
        seconds = time.perf_counter() - start
    finally:
        sender.close()
    for state in (DeliveryState.PENDING, DeliveryState.FAILED):
        require(not engine.list_deliveries(endpoint.id, state, limit=1), "all delivered")
    delivered = len(engine.list_deliveries(endpoint.id, DeliveryState.DELIVERED, limit=10**9))
    require(delivered >= made and sent == delivered, "each event delivered once")
    return delivered, delivered / seconds


@contextlib.contextmanager
def chaos_receiver(log_path: Path, stall: float) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.chaos_receiver", "14", str(log_path), str(stall)]
        + [str(STALL_SHARE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        process.wait(timeout=30)


def _drive(engine: Hushan, sender: Deliverer) -> None:
    """Send until nothing is pending, moving the test clock to each next due time."""
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    while True:
        while sender.run_once():
            pass
        due = engine.next_delivery_due()
        if due is None:
            return
        require(due > clock.now(), "a due delivery was claimed")
        clock.advance(due - clock.now())


def _delivered(engine: Hushan, endpoint_id: str) -> int:
    return len(engine.list_deliveries(endpoint_id, DeliveryState.DELIVERED, limit=10**9))


class _ReceivedAt(datetime):
    """`datetime` as `standardwebhooks` sees it while a logged request is verified: its "now"
    is when the request was received, as a receiver verifying on receipt would have it (a long
    run is verified once it is over, past the package's five minutes of tolerance)."""

    moment = datetime.now(UTC)

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _ReceivedAt:
        return cls.fromtimestamp(cls.moment.timestamp(), tz)


def verified_on_receipt(verifier: Webhook, record: dict[str, Any]) -> Any:
    """The payload, if the record's signature verifies as of its receipt."""
    _ReceivedAt.moment = datetime.fromtimestamp(record["received_at"], UTC)
    with patch("standardwebhooks.webhooks.datetime", _ReceivedAt):
        return verifier.verify(record["body"], record["headers"])


def chaos(engine: Hushan, work: Path, events: int, pairs: int) -> dict[str, Any]:
    """The chaos run's figures: delivered shares, signatures, per-pair order, duplicates."""
    with engine.store.write() as tx:  # the other figures' endpoints: out of the way
        for endpoint in tx.list_endpoints():
            tx.delete_endpoint(endpoint.id)
    log_path, timeout = work / "chaos.jsonl", 0.25
    with chaos_receiver(log_path, timeout * 2) as url:
        endpoint, secret = engine.create_endpoint(url, ["contact.removed", "contact.added"])
        made, couples = 0, [pair(engine, 5000 + n) for n in range(pairs)]
        while made < events:
            for a, b in couples:
                engine.delete_contact(a, b)
                engine.send_request(a, b)
                made += 2
        engine.relay_events()
        emitted = len(engine.list_deliveries(endpoint.id, limit=10**9))
        sender = Deliverer(engine, timeout=timeout, batch=500, threads=8)
        try:
            start = time.perf_counter()
            _drive(engine, sender)
            in_schedule = _delivered(engine, endpoint.id)
            before_replay = len(log_path.read_text().splitlines())
            start_of_replay = engine.clock.now()
            replayed = engine.replay_failures(start_of_replay - timedelta(days=365), endpoint.id)
            _drive(engine, sender)
            seconds = time.perf_counter() - start
        finally:
            sender.close()
        delivered = _delivered(engine, endpoint.id)
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    verifier, verified = Webhook(secret), 0
    accepted: dict[str, int] = {}
    last_seq: dict[str, int] = {}
    order_held = True
    for n, record in enumerate(records):
        try:
            payload = verified_on_receipt(verifier, record)
            verified += 1
        except WebhookVerificationError:
            payload = json.loads(record["body"])
        if record["status"] != 204:
            continue
        webhook_id = record["headers"]["webhook-id"]
        accepted[webhook_id] = accepted.get(webhook_id, 0) + 1
        # What the sender saw accepted within the schedule (a replayed dead letter comes after
        # its pair's later events by design: they waited only until it was dead-lettered).
        if not record["stalled"] and accepted[webhook_id] == 1 and n < before_replay:
            key = "\x00".join(sorted(payload["data"]["pair"]))
            order_held &= last_seq.get(key, 0) < payload["data"]["seq"]
            last_seq[key] = payload["data"]["seq"]
    return {
        "events": emitted,
        "pairs": pairs,
        "attempts": len(records),
        "answered_500": sum(r["status"] == 500 for r in records),
        "stalled_past_timeout": sum(r["stalled"] for r in records),
        "delivered_in_schedule_pct": round(100 * in_schedule / emitted, 3),
        "dead_letters_replayed": replayed,
        "delivered_pct": round(100 * delivered / emitted, 3),
        "signatures_verified": verified,
        "signatures_failed": len(records) - verified,
        "per_pair_order_held": order_held,
        "duplicate_attempts": sum(n - 1 for n in accepted.values()),
        "seconds": round(seconds, 1),
        "ok": delivered == emitted and verified == len(records) and order_held,
    }


def sync_rate(engine: Hushan, work: Path, events: int, pairs: int) -> dict[str, Any]:
    """A platform's sync rate on a run where its receiver recovers, beside the article's."""
    with engine.store.write() as tx:  # the other figures' endpoints: out of the way
        for endpoint in tx.list_endpoints():
            tx.delete_endpoint(endpoint.id)
    log_path, timeout = work / "sync.jsonl", 0.25
    start = engine.clock.now()
    with chaos_receiver(log_path, timeout * 2) as url:
        platform, _ = engine.create_platform(
            "game", url, AssetPolicy.AUTO_INHERIT, PermissionPolicy.RESTRICT
        )
        couples = [pair(engine, 9000 + n) for n in range(pairs)]
        for a, _b in couples:
            engine.link_platform(a, platform.id)
        made = 0
        while made < events:
            for a, b in couples:
                engine.delete_contact(a, b)
                engine.send_request(a, b)
                made += 2
        sender = Deliverer(engine, timeout=timeout, batch=500, threads=8)
        try:
            _drive(engine, sender)  # through the whole schedule: half the attempts fail
            within = engine.sync_rate(platform.id, engine.clock.now() - start)
            engine.replay_failures(start, platform.endpoint_id)  # the platform has recovered
            _drive(engine, sender)
        finally:
            sender.close()
    rate = engine.sync_rate(platform.id, engine.clock.now() - start)
    return {
        "emitted": rate.emitted,
        "acknowledged": rate.acknowledged,
        "sync_rate_pct": None if rate.rate is None else round(100 * rate.rate, 3),
        "sync_rate_in_schedule_pct": None if within.rate is None else round(100 * within.rate, 3),
        "article_pct": round(100 * ARTICLE_SYNC_RATE),
        "lag_p50_seconds": rate.lag_p50_seconds,
        "lag_p99_seconds": rate.lag_p99_seconds,
        "ok": rate.rate == 1.0,
    }


def run(backend: str, work: Path, quick: bool) -> dict[str, Any]:
    databases = Databases(backend, work)
    seconds, events, pairs = (1.0, 1000, 100) if quick else (4.0, 10_000, 500)
    try:
        engine = engine_for(databases.new("webhooks"), os.urandom(32))
        try:
            with receiver() as url:
                log("webhooks: writes with no endpoint, one endpoint, the outbox off, by turns")
                none, one, bare = write_rates(engine, url, seconds)
                log(f"webhooks: draining {events} events")
                sent, per_second = drain_rate(engine, url, events, pairs)
            log(f"webhooks: chaos, {events} events")
            chaotic = chaos(engine, work, events, pairs)
            log(f"webhooks: a platform's sync rate, {events // 10} events")
            synced = sync_rate(engine, work, events // 10, pairs // 10)
        finally:
            engine.store.close()
    finally:
        if backend == "postgres":
            databases.drop()
    return {
        "bench": "webhooks",
        "backend": backend,
        "quick": quick,
        "writes_per_second": {
            "no_endpoint": round(none, 1),
            "one_endpoint": round(one, 1),
            "outbox_off": round(bare, 1),
            "outbox_cost_ratio": round(none / bare, 3),
            **at_least(one, none, MIN_WRITE_RATIO),
        },
        "drain": {
            "events": sent,
            "pairs": pairs,
            "per_second": round(per_second, 1),
            "limit_min_per_second": MIN_DRAIN_PER_SECOND,
            "ok": per_second >= MIN_DRAIN_PER_SECOND,
        },
        "chaos": chaotic,
        "sync": synced,
    }


def main(argv: Sequence[str] | None = None) -> int:
    return run_on_backend("python -m bench.webhooks", __doc__, argv, run)


if __name__ == "__main__":
    sys.exit(main())
