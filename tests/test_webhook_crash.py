"""The crash bar: the real `hushan worker` is killed with SIGKILL mid-delivery 10 times while
events keep coming, against a receiver on 127.0.0.1, then left to finish. No event is lost, and
the receiver gets at most one duplicate per kill (counted by `webhook-id`): each outcome is
recorded as its answer comes, and one thread leaves at most one attempt sent but unrecorded."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from hushan.bootstrap import build
from hushan.config import Settings
from hushan.domain.webhooks import DeliveryState
from tests.drive import befriend
from tests.receiver import Receiver
from tests.test_webhooks_api import wait_for

KILLS = 10
PAIRS_PER_ROUND = 4
TYPES = ["contact.added", "contact.removed"]


def test_kill_9_mid_delivery_loses_nothing_and_duplicates_at_most_once_per_kill(
    tmp_path: Path,
) -> None:
    db = tmp_path / "crash.db"
    engine = build(Settings(database_url=f"sqlite:///{db}"))

    def slow(_: object) -> int:
        time.sleep(0.004)  # long enough that a kill lands on an attempt in flight
        return 204

    env = {
        **os.environ,
        "HUSHAN_WEBHOOK_THREADS": "1",
        "HUSHAN_WEBHOOK_BATCH": "4",
        "HUSHAN_WEBHOOK_TIMEOUT_SECONDS": "1",
        "HUSHAN_WEBHOOK_LEASE_SLACK_SECONDS": "0.2",  # a killed worker's claim lapses soon
        "HUSHAN_WEBHOOK_RETRY_SCHEDULE": "1,1,1",
    }
    argv = [sys.executable, "-m", "hushan.cli", "worker", "--db", str(db), "--interval", "0.05"]
    rng = random.Random(14)
    with Receiver(slow).running() as receiver:
        endpoint, _ = engine.create_endpoint(receiver.url, TYPES)
        pair = 0
        for _ in range(KILLS):
            worker = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
            try:
                before = len(receiver.received)
                for _ in range(PAIRS_PER_ROUND):  # events keep coming while it delivers
                    a, b = f"a{pair}", f"b{pair}"
                    befriend(engine, a, b)
                    engine.delete_contact(a, b)
                    pair += 1
                wait_for(lambda before=before: len(receiver.received) > before, 60)
                time.sleep(rng.uniform(0, 0.03))
            finally:
                worker.send_signal(signal.SIGKILL)
                worker.wait()
        outbox = {row[0] for row in engine.store.dump_rows("outbox") if row[1] in TYPES}
        worker = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
        try:
            wait_for(
                lambda: (
                    {d.state for d in engine.list_deliveries(endpoint.id, limit=1000)}
                    == {DeliveryState.DELIVERED}
                ),
                60,
            )
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
        got = Counter(r.headers["webhook-id"] for r in receiver.take())
    engine.store.close()
    assert len(outbox) == PAIRS_PER_ROUND * KILLS * 3  # two adds and a removal per pair
    assert set(got) == {f"evt_{seq}" for seq in outbox}, "an event was lost"
    duplicates = sum(got.values()) - len(got)
    assert duplicates <= KILLS, (duplicates, got.most_common(3))
