"""What every router of one app shares: its engine, the pool its calls run on, the feed's
watcher, the guards, the test clock and where erasure jobs run (hushan.api.app builds one per
app)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from hushan.api.offload import EnginePool
from hushan.api.replies import JsonReply
from hushan.api.security import Guards
from hushan.api.watch import ChangeWatcher
from hushan.clock import OffsetClock
from hushan.service import Hushan


@dataclass(frozen=True, slots=True)
class Context:
    engine: Hushan
    pool: EnginePool
    watcher: ChangeWatcher
    guards: Guards
    test_clock: OffsetClock | None = None
    erasures_in_worker: bool = False  # else erasure jobs run on the engine pool


def reply(data: Any, status: int = 200) -> JsonReply:
    return JsonReply(data, status_code=status)


def status_reply(outcome: Enum) -> JsonReply:
    """`{"status": ...}`, the reply of a write whose outcome is all it tells."""
    return reply({"status": outcome.value})
