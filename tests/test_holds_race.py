"""A legal hold against a purge, in two processes, on each backend: a hold placed on a due
history either lands before the purge (the history is kept, its key with it, until release)
or after it (refused with `history_already_purged`), never both placed and purged. Placing a
hold takes the pair's locks, and the sweep reads the holds under them; without that, a hold
lands while the sweep destroys the key (the mutation check in the report of this change)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hushan.bootstrap import build
from hushan.config import Settings
from hushan.domain.model import AuditAction
from hushan.service import Hushan
from tests.conftest import Backends

PAIRS = 150
ROUNDS = 3  # until one round ends both ways: some holds first, some purges first
BUFFER = 4  # seconds: the histories fall due one after another, as fast as they were made
CHILD = Path(__file__).with_name("hold_race.py")


def database_url(backend: Backends, tmp_path: Path, round_: int) -> str:
    url = backend.own_database()
    if url is not None:
        return url
    return f"sqlite:///{tmp_path / f'race{round_}.db'}"


def due_pairs(engine: Hushan) -> None:
    for n in range(PAIRS):
        a, b = f"ha{n}", f"hb{n}"
        engine.create_user(a, verification_required=False)
        engine.create_user(b, verification_required=False)
        engine.send_request(a, b)
        engine.send_message(a, b, f"canary-race-{n}")
        engine.delete_contact(a, b)
        engine.delete_contact(b, a)  # buffered, due BUFFER seconds from now


def key_kept(engine: Hushan) -> set[int]:
    return {int(row[0]) for row in engine.store.dump_rows("conversation_keys")}


def race_once(url: str, sync: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """One race on a fresh database, the two sides meeting in the folder `sync`: (holds
    placed, holds refused)."""
    monkeypatch.setenv("HUSHAN_DATABASE_URL", url)
    monkeypatch.setenv("HUSHAN_BUFFER_SECONDS", str(BUFFER))
    env = dict(os.environ)
    engine = build(Settings())
    try:
        first_due = time.time() + BUFFER
        due_pairs(engine)
        last_due = time.time() + BUFFER
        conversation = {
            n: engine.inspect_pair(f"ha{n}", f"hb{n}").conversation for n in range(PAIRS)
        }
        sync.mkdir()
        argv = [sys.executable, str(CHILD)]
        sweeper = subprocess.Popen([*argv, "sweep", str(PAIRS), str(sync)], env=env)
        placer = subprocess.Popen(
            [*argv, "place", str(PAIRS), str(sync)], env=env, stdout=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 120
        while not ((sync / "sweep").exists() and (sync / "place").exists()):
            assert sweeper.poll() is None and placer.poll() is None, "a side died at its start"
            assert time.monotonic() < deadline, "a side did not start"
            time.sleep(0.01)
        # Both are up: the holds come over the time the histories fall due (or, when making
        # them took longer than the buffer, while the sweeps purge those already due).
        start_at = max(first_due, time.time() + 0.2)
        window = max(last_due - start_at, 0.5) + 0.5
        ready = sync / "go.part"
        ready.write_text(f"{start_at} {window}")
        ready.rename(sync / "go")  # whole, at once
        out, _ = placer.communicate(timeout=120)
        assert placer.wait() == 0 and sweeper.wait(timeout=120) == 0
        placed = {line["n"]: line["placed"] for line in map(json.loads, out.splitlines())}
        assert sorted(placed) == list(range(PAIRS))
        engine.sweep()  # whatever the sweeper had left
        kept = key_kept(engine)
        deferred = {
            e.detail.split()[0]
            for e in engine.audit_log(0, 100_000)
            if e.action is AuditAction.PURGE_DEFERRED_LEGAL_HOLD
        }
        for n, hold in placed.items():
            found = conversation[n]
            assert found is not None
            if hold is None:  # refused: the purge came first
                assert found.id not in kept, n
            else:  # placed: it came first, and the history is kept, its deferral recorded
                assert found.id in kept, (n, "a hold was placed, yet its history was purged")
                assert f"conversation={found.id}" in deferred, n
        for hold in placed.values():
            if hold is not None:
                engine.release_hold(hold)
        engine.sweep()
        assert key_kept(engine) == set() and list(engine.store.dump_rows("messages")) == []
        held = sum(hold is not None for hold in placed.values())
        return held, PAIRS - held
    finally:
        engine.store.close()


def test_a_hold_and_a_purge_in_two_processes_never_both_win(
    backend: Backends, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # key files, when the database is not a file
    outcomes = []
    for round_ in range(ROUNDS):
        url = database_url(backend, tmp_path, round_)
        held, purged = race_once(url, tmp_path / f"sync{round_}", monkeypatch)
        outcomes.append((held, purged))
        if held and purged:
            break
    print("race outcomes (held, purged) per round:", outcomes)
    assert any(held and purged for held, purged in outcomes), outcomes  # they did race
