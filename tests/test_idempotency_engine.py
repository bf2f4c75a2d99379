"""The engine side of idempotency keys, on both backends: a held write commits with its key's
reply or not at all, a live key stops a second write, and keyed sends repeated store each
message once (issue 12's bar, in process)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from hushan.clock import ManualClock
from hushan.domain.errors import IdempotencyKeyReused
from hushan.service import Hushan
from hushan.service.idempotency import Claim, Replay
from hushan.store.base import StoredReply
from hushan.store.held import Hold, after_commit, holding
from hushan.store.sqlite import SqliteStore

SENDS = 1000


def friends(engine: Hushan) -> None:
    engine.create_user("a")
    engine.create_user("b")
    engine.send_request("a", "b")
    engine.accept_request("b", "a")


def keyed_send(engine: Hushan, claim: Claim, body: str) -> bytes:
    """A send as the HTTP layer makes it: held, then committed with its reply."""
    hold = Hold()
    with holding(hold):
        sent = engine.send_message("a", "b", body)
    reply = f'{{"id": {sent.id}}}'.encode()
    engine.keep_reply(hold, claim, StoredReply(claim.fingerprint, 201, [], reply))
    return reply


def stored(engine: Hushan) -> int:
    return len(engine.history("a", "b", limit=SENDS * 2).messages)


def test_a_rolled_back_hold_keeps_neither(engine: Hushan) -> None:
    friends(engine)
    claim = Claim("user:a", "k", os.urandom(32))
    hold = Hold()
    with holding(hold):
        engine.send_message("a", "b", "gone")
    engine.keep_reply(hold, claim, None)
    assert stored(engine) == 0
    assert keyed_send(engine, claim, "kept")  # the key is free: nothing was kept
    assert stored(engine) == 1


def test_a_live_key_rolls_a_second_write_back(engine: Hushan) -> None:
    """The key is looked up as its row is written, after the write: a retry's write runs,
    then is rolled back, and the call ends with the first reply or `idempotency_key_reused`."""
    friends(engine)
    claim = Claim("user:a", "k", os.urandom(32))
    first = keyed_send(engine, claim, "once")
    with pytest.raises(Replay) as replay:
        keyed_send(engine, claim, "once")
    assert replay.value.reply.body == first
    with pytest.raises(IdempotencyKeyReused):
        keyed_send(engine, Claim("user:a", "k", os.urandom(32)), "twice")
    assert [m.body for m in engine.history("a", "b").messages] == ["once"]
    assert keyed_send(engine, Claim("user:b", "k", os.urandom(32)), "another caller's key")
    assert stored(engine) == 2


def test_a_hold_that_wrote_nothing_keeps_its_reply_on_its_own(engine: Hushan) -> None:
    """A keyed call that wrote nothing (a refusal, a read): its reply is kept in a transaction
    of its own, and a second such call with the key gets it back."""
    friends(engine)
    claim = Claim("user:a", "read", os.urandom(32))
    for expected in (None, b"first"):
        hold = Hold()
        with holding(hold):
            engine.history("a", "b")
        assert not hold.holding
        if expected is None:
            engine.keep_reply(hold, claim, StoredReply(claim.fingerprint, 200, [], b"first"))
        else:
            with pytest.raises(Replay) as replay:
                engine.keep_reply(hold, claim, StoredReply(claim.fingerprint, 200, [], b"again"))
            assert replay.value.reply.body == expected


def test_a_key_kept_meanwhile_rolls_the_write_back(engine: Hushan) -> None:
    """Another process kept the key while this write was held open: this one is rolled back,
    and the call ends as that key's record says."""
    if isinstance(engine.store, SqliteStore):
        pytest.skip("SQLite writes one at a time: nothing can keep the key meanwhile")
    friends(engine)
    for fingerprint, ends in ((os.urandom(32), Replay), (os.urandom(32), IdempotencyKeyReused)):
        key = f"k-{ends.__name__}"
        claim = Claim("user:a", key, fingerprint)
        hold = Hold()
        with holding(hold):
            engine.send_message("a", "b", "late")
        # The other process's reply, kept in a transaction of its own (a read-only request);
        # its fingerprint is this request's for a replay, another for a key reused.
        now = engine.clock.now()
        theirs = fingerprint if ends is Replay else os.urandom(32)
        with engine.store.write() as tx:
            reply = StoredReply(theirs, 200, [], b"{}")
            assert tx.put_idempotent_reply("user:a", key, reply, now, now + timedelta(days=1))
        with pytest.raises(ends):
            engine.keep_reply(hold, claim, StoredReply(fingerprint, 201, [], b"{}"))
    assert stored(engine) == 0


def test_repeated_keyed_sends_store_each_once_and_expire(engine: Hushan) -> None:
    friends(engine)
    claims = [Claim("user:a", f"k{n}", os.urandom(32)) for n in range(SENDS)]
    for n, claim in enumerate(claims):
        keyed_send(engine, claim, f"m{n}")
    for n, claim in enumerate(claims):
        with pytest.raises(Replay):
            keyed_send(engine, claim, f"m{n}")
    assert stored(engine) == SENDS
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(days=1, seconds=1))
    assert engine.sweep().idempotency_keys_pruned == SENDS


def test_work_after_a_held_commit_waits_for_it_and_a_rollback_drops_it(engine: Hushan) -> None:
    friends(engine)
    ran: list[int] = []
    after_commit(lambda: ran.append(-1))  # no hold: at once
    assert ran == [-1]
    for keep in (True, False):
        ran.clear()
        claim = Claim("user:a", f"after-{keep}", os.urandom(32))
        hold = Hold()
        with holding(hold):
            engine.send_message("a", "b", "x")
            after_commit(lambda: ran.append(stored(engine)))  # what a new transaction sees
        assert ran == []
        reply = StoredReply(claim.fingerprint, 201, [], b"{}") if keep else None
        engine.keep_reply(hold, claim, reply)
        assert ran == ([1] if keep else [])


def test_a_keyed_block_then_delete_empties_the_wal_once_committed(engine: Hushan) -> None:
    """The freed pages' flush (a TRUNCATE checkpoint; a VACUUM) waits for the held write's
    commit: inside it, SQLite's checkpoint waited for that very transaction until `busy`."""
    friends(engine)
    engine.send_message("a", "b", "to be erased")
    claim = Claim("user:a", "block-delete", os.urandom(32))
    hold = Hold()
    with holding(hold):
        outcome = engine.block_and_delete("a", "b")
    assert outcome.history_purged
    engine.keep_reply(hold, claim, StoredReply(claim.fingerprint, 200, [], b"{}"))
    assert (
        engine.inspect_pair("a", "b").conversation is None or not engine.history("b", "a").messages
    )
    if isinstance(engine.store, SqliteStore):
        assert Path(f"{engine.store.path}-wal").stat().st_size == 0
