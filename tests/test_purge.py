"""Purge is real (Rule 5 and 6): keys and ciphertext leave the database file and its WAL, no
row anywhere refers to the purged messages, and an interrupted purge finishes later."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

import hushan.purge
from hushan.clock import ManualClock
from hushan.domain.model import AuditAction, Conversation, HistoryState
from hushan.purge import Purger
from hushan.service import Hushan, views
from hushan.store.sql import SqlTx
from hushan.store.sqlite import SqliteStore
from tests.conftest import Backends
from tests.locks import Interleaved


def friends_with_history(engine: Hushan, a: str, b: str, messages: int) -> None:
    engine.create_user(a)
    engine.create_user(b)
    engine.send_request(a, b)
    engine.accept_request(b, a)
    for i in range(messages):
        engine.send_message(a, b, f"{a}-{b}-secret-{i}")


def conversation_id(engine: Hushan, a: str, b: str) -> int:
    conversation = engine.inspect_pair(a, b).conversation
    assert conversation is not None
    return conversation.id


def stored_secrets(engine: Hushan, conversation: int) -> tuple[bytes, list[bytes]]:
    """The wrapped key and every ciphertext of one conversation, as stored."""
    keys = {row[0]: row[1] for row in engine.store.dump_rows("conversation_keys")}
    ciphertexts = [row[3] for row in engine.store.dump_rows("messages") if row[1] == conversation]
    return bytes(keys[conversation]), [bytes(c) for c in ciphertexts]


def file_bytes(engine: Hushan) -> bytes:
    assert isinstance(engine.store, SqliteStore)
    path = engine.store.path
    wal = Path(f"{path}-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def assert_gone(engine: Hushan, conversation: int, key: bytes, ciphertexts: list[bytes]) -> None:
    """Gone from the SQLite file and its WAL, byte for byte, and from every row."""
    raw = file_bytes(engine)
    assert key not in raw, "the wrapped data key is still in the database file or WAL"
    for ciphertext in ciphertexts:
        assert ciphertext[12:40] not in raw, "a message ciphertext is still on disk"
    assert_no_row_keeps(engine, conversation, key, ciphertexts)


def assert_no_row_keeps(
    engine: Hushan, conversation: int, key: bytes, ciphertexts: list[bytes]
) -> None:
    """Sweep every table: no row keeps the key, a ciphertext, or a message of the conversation
    (what every backend promises; PostgreSQL's pages are docs/operations.md's business)."""
    for table in engine.store.table_names():
        for row in engine.store.dump_rows(table):
            for value in row:
                if isinstance(value, bytes):
                    assert value != key and value not in ciphertexts, table
            if table == "messages":
                assert row[1] != conversation
            if table == "conversation_keys":
                assert row[0] != conversation


def mutual_delete(engine: Hushan, a: str, b: str) -> None:
    engine.delete_contact(a, b)
    engine.delete_contact(b, a)


def test_buffer_purge_leaves_no_trace_on_disk(sqlite_engine: Hushan):
    engine, clock = sqlite_engine, sqlite_engine.clock
    assert isinstance(clock, ManualClock)
    friends_with_history(engine, "a", "b", 50)
    friends_with_history(engine, "c", "d", 5)  # a neighbour whose history must survive
    conversation = conversation_id(engine, "a", "b")
    key, ciphertexts = stored_secrets(engine, conversation)
    assert key in file_bytes(engine)  # the scan can see it while it exists
    mutual_delete(engine, "a", "b")
    clock.advance(timedelta(days=30))
    engine.sweep()
    assert_gone(engine, conversation, key, ciphertexts)
    for me, other in (("a", "b"), ("b", "a")):
        history = engine.history(me, other)
        assert history.state is HistoryState.PURGED and history.messages == []
    assert len(engine.history("c", "d").messages) == 5


def test_block_delete_leaves_no_trace_on_disk(sqlite_engine: Hushan):
    engine = sqlite_engine
    friends_with_history(engine, "a", "b", 30)
    conversation = conversation_id(engine, "a", "b")
    key, ciphertexts = stored_secrets(engine, conversation)
    engine.block_and_delete("a", "b")
    assert_gone(engine, conversation, key, ciphertexts)


def test_sweep_is_idempotent(engine: Hushan, clock):
    friends_with_history(engine, "a", "b", 3)
    mutual_delete(engine, "a", "b")
    clock.advance(timedelta(days=31))
    first = engine.sweep()
    assert (first.keys_destroyed, first.rows_deleted, first.conversations_finished) == (1, 3, 1)
    assert not engine.sweep().did_work


def test_the_backlog_shows_what_is_due_until_the_sweep_does_it(engine: Hushan, clock):
    friends_with_history(engine, "a", "b", 3)
    mutual_delete(engine, "a", "b")
    due = engine.backlog()
    assert (due.keys_due, due.rows_left, due.oldest_due) == (0, 0, None)
    clock.advance(timedelta(days=31))
    due = engine.backlog()
    assert (due.keys_due, due.rows_left) == (1, 0)
    assert due.oldest_due is not None and due.oldest_due <= clock.now()
    assert due.erasures_waiting == []
    assert due.sweeps == []
    engine.sweep()
    due = engine.backlog()
    assert (due.keys_due, due.rows_left, due.oldest_due, due.log_lag) == (0, 0, None, 0)
    (run,) = due.sweeps  # the operator console's "last runs"
    assert (run.started_at, run.finished_at) == (clock.now(), clock.now())
    assert (run.report["keys_destroyed"], run.report["rows_deleted"]) == (1, 3)


def test_the_sweep_keeps_its_newest_runs(
    engine: Hushan, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "SWEEP_RUNS_KEPT", 3)
    for _ in range(5):
        clock.advance(timedelta(minutes=1))
        engine.sweep()
    runs = engine.backlog(sweeps_shown=10).sweeps
    assert [r.started_at for r in runs] == [clock.now() - timedelta(minutes=n) for n in range(3)]
    assert not any(runs[0].report.values())


def test_purge_waits_for_purge_at(engine: Hushan, clock):
    friends_with_history(engine, "a", "b", 3)
    mutual_delete(engine, "a", "b")
    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    assert not engine.sweep().did_work
    assert len(engine.history("a", "b").messages) == 3
    clock.advance(timedelta(seconds=1))
    assert engine.sweep().keys_destroyed == 1


def audit_counts(engine: Hushan) -> Counter[AuditAction]:
    return Counter(e.action for e in engine.audit_log(0, 100_000))


def test_interrupted_row_deletion_finishes_on_the_next_sweep(
    backend: Backends, monkeypatch: pytest.MonkeyPatch
):
    engine = backend.engine()
    engine.purger._batch_rows = 10
    clock = engine.clock
    friends_with_history(engine, "a", "b", 35)
    conversation = conversation_id(engine, "a", "b")
    key, ciphertexts = stored_secrets(engine, conversation)
    mutual_delete(engine, "a", "b")
    clock.advance(timedelta(days=31))  # type: ignore[attr-defined]

    real = SqlTx.delete_messages
    calls = {"n": 0}

    def failing(self: SqlTx, conversation: Conversation, limit: int) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("power cut")
        return real(self, conversation, limit)

    monkeypatch.setattr(SqlTx, "delete_messages", failing)
    with pytest.raises(RuntimeError, match="power cut"):
        engine.sweep()
    # Step 1 committed: the key is gone and the history unreadable; step 3 is half-way,
    # each finished batch whole; step 4 has not happened.
    inspection = engine.inspect_pair("a", "b")
    assert not inspection.key_present and inspection.status.history_state is HistoryState.PURGED
    remaining = sum(1 for row in engine.store.dump_rows("messages") if row[1] == conversation)
    assert remaining == 35 - 20
    assert engine.history("a", "b").messages == []
    assert audit_counts(engine)[AuditAction.ROWS_PURGED] == 0

    monkeypatch.setattr(SqlTx, "delete_messages", real)
    report = engine.sweep()
    assert (report.keys_destroyed, report.rows_deleted, report.conversations_finished) == (0, 15, 1)
    counts = audit_counts(engine)
    assert counts[AuditAction.KEY_DESTROYED] == counts[AuditAction.ROWS_PURGED] == 1
    assert_no_row_keeps(engine, conversation, key, ciphertexts)
    engine.store.close()


def test_interrupted_key_destruction_changes_nothing(
    engine: Hushan, clock, monkeypatch: pytest.MonkeyPatch
):
    friends_with_history(engine, "a", "b", 5)
    mutual_delete(engine, "a", "b")
    clock.advance(timedelta(days=31))
    real = SqlTx.append_audit

    def failing(self: SqlTx, entry):
        if entry.action is AuditAction.KEY_DESTROYED:
            raise RuntimeError("crash while writing the audit entry")
        real(self, entry)

    monkeypatch.setattr(SqlTx, "append_audit", failing)
    with pytest.raises(RuntimeError):
        engine.sweep()
    inspection = engine.inspect_pair("a", "b")
    # Rolled back whole: the key row, the state and the audit move together or not at all.
    assert inspection.key_present and inspection.status.history_state is HistoryState.BUFFERED
    monkeypatch.setattr(SqlTx, "append_audit", real)
    assert engine.sweep().keys_destroyed == 1
    assert audit_counts(engine)[AuditAction.KEY_DESTROYED] == 1


def test_many_conversations_purge_in_one_sweep(engine: Hushan, clock):
    for i in range(30):
        friends_with_history(engine, f"p{i}", f"q{i}", 3)
        mutual_delete(engine, f"p{i}", f"q{i}")
    clock.advance(timedelta(days=31))
    report = engine.sweep()
    assert (report.keys_destroyed, report.rows_deleted) == (30, 90)
    assert list(engine.store.dump_rows("messages")) == []
    assert list(engine.store.dump_rows("conversation_keys")) == []


@pytest.mark.parametrize("batch_rows", [4, 7, 1000])
def test_row_batches_run_across_conversations(backend: Backends, batch_rows: int):
    """Batches that end inside, exactly at, or past a conversation's rows all finish every
    conversation once, with one `rows_purged` entry each."""
    engine = backend.engine()
    engine.purger._batch_rows = batch_rows
    pairs = [(f"a{i}", f"b{i}") for i in range(5)]
    for i, (a, b) in enumerate(pairs):
        friends_with_history(engine, a, b, i * 2)  # 0, 2, 4, 6 and 8 messages
        mutual_delete(engine, a, b)
    engine.clock.advance(timedelta(days=31))  # type: ignore[attr-defined]
    report = engine.sweep()
    assert (report.keys_destroyed, report.rows_deleted, report.conversations_finished) == (5, 20, 5)
    assert list(engine.store.dump_rows("messages")) == []
    counts = audit_counts(engine)
    assert counts[AuditAction.KEY_DESTROYED] == counts[AuditAction.ROWS_PURGED] == 5
    assert not engine.sweep().did_work
    engine.store.close()


def feed_rows_of(engine: Hushan, conversation: int) -> list[tuple[str, object]]:
    """(kind, message id) of every stored feed change that still names the conversation."""
    return [(row[2], row[5]) for row in engine.store.dump_rows("changes") if row[4] == conversation]


def test_the_feed_keeps_no_trace_of_purged_messages(engine: Hushan, clock: ManualClock) -> None:
    for user in ("A", "B", "C"):
        engine.create_user(user)
        engine.register_device(user, "phone")  # only users with a device have a feed
    for other, messages in (("B", 3), ("C", 1)):
        engine.send_request("A", other)
        engine.accept_request(other, "A")
        for i in range(messages):
            engine.send_message("A", other, f"secret-{i}")
    buffered, erased = conversation_id(engine, "A", "B"), conversation_id(engine, "A", "C")
    engine.delete_contact("A", "B")
    engine.delete_contact("B", "A")
    assert ("message", None) not in feed_rows_of(engine, buffered)  # still held: still there
    assert len([k for k, _ in feed_rows_of(engine, buffered) if k == "message"]) == 6
    clock.advance(timedelta(days=31))
    engine.sweep()
    engine.block_and_delete("C", "A")
    for conversation in (buffered, erased):
        # Each side keeps its `purge` instruction, and nothing that points at a message.
        rows = feed_rows_of(engine, conversation)
        assert rows.count(("purge", None)) == 2
        assert [row for row in rows if row[0] == "message" or row[1] is not None] == []


def test_block_then_delete_erases_over_many_batches(backend: Backends) -> None:
    engine = backend.engine()
    engine.purger = Purger(engine.store, engine.clock, batch_rows=3)
    friends_with_history(engine, "A", "B", messages=10)
    conversation = conversation_id(engine, "A", "B")
    engine.block_and_delete("A", "B")
    assert [row for row in engine.store.dump_rows("messages") if row[1] == conversation] == []
    pair = engine.inspect_pair("A", "B").conversation
    assert pair is not None and pair.rows_purged_at is not None
    assert audit_counts(engine)[AuditAction.ROWS_PURGED] == 1


def due_work(engine: Hushan, kind: str, a: str, b: str) -> None:
    """A request from a to b, or a buffered history of a and b, due in 31 days."""
    if kind == "request":
        engine.create_user(a)
        engine.create_user(b)
        engine.send_request(a, b)
    else:
        friends_with_history(engine, a, b, 3)
        mutual_delete(engine, a, b)


DONE_BY = {"request": AuditAction.REQUEST_EXPIRED, "history": AuditAction.KEY_DESTROYED}


@pytest.mark.parametrize("kind", ["request", "history"])
def test_work_another_sweep_did_meanwhile_is_not_done_twice(backend: Backends, kind: str) -> None:
    """Two sweeps race for the same due work: the one that locks second finds it done (work is
    found again under the locks) and does nothing to it; each step happens once."""
    engine = backend.engine()
    due_work(engine, kind, "A", "B")
    assert isinstance(engine.clock, ManualClock)
    engine.clock.advance(timedelta(days=31))
    rival = Purger(engine.store, engine.clock)
    raced = Interleaved(engine.store, lambda: rival.sweep())
    report = Purger(raced.store, engine.clock).sweep()
    assert (report.requests_expired, report.keys_destroyed, report.rows_deleted) == (0, 0, 0)
    assert audit_counts(engine)[DONE_BY[kind]] == 1
    assert audit_counts(engine)[AuditAction.ROWS_PURGED] == (kind == "history")
    assert raced.unlocked == []
    engine.store.close()


@pytest.mark.parametrize("kind", ["request", "history"])
def test_work_that_appears_meanwhile_waits_for_its_own_locks(backend: Backends, kind: str) -> None:
    """Work that became due between a claim's look and its lock, for a pair it did not lock, is
    left to the next round: a pair is only changed under both its users' locks."""
    engine = backend.engine()
    due_work(engine, kind, "A", "B")
    sweep_clock = ManualClock(engine.clock.now() + timedelta(days=31))  # the engine's stays
    raced = Interleaved(engine.store, lambda: due_work(engine, kind, "C", "D"))
    first = Purger(raced.store, sweep_clock).sweep()
    assert raced.unlocked == []
    assert first.requests_expired + first.keys_destroyed == 1
    assert audit_counts(engine)[DONE_BY[kind]] == 1  # C and D's waits for the next sweep
    second = Purger(raced.store, sweep_clock).sweep()
    assert second.requests_expired + second.keys_destroyed == 1
    assert audit_counts(engine)[DONE_BY[kind]] == 2
    assert raced.unlocked == []
    engine.store.close()


def due_pairs(engine: Hushan, requests: int, histories: int) -> None:
    """Requests and buffered histories (one message each) that are due in 31 days."""
    for i in range(requests):
        due_work(engine, "request", f"r{i}", f"s{i}")
    for i in range(histories):
        friends_with_history(engine, f"h{i}", f"k{i}", 1)
        mutual_delete(engine, f"h{i}", f"k{i}")
    assert isinstance(engine.clock, ManualClock)
    engine.clock.advance(timedelta(days=31))


def test_an_expired_request_is_expired_once(engine: Hushan) -> None:
    due_pairs(engine, requests=2, histories=0)
    assert engine.sweep().requests_expired == 2
    assert not engine.sweep().did_work
    assert audit_counts(engine)[AuditAction.REQUEST_EXPIRED] == 2


def test_progress_is_told_after_each_batch(engine: Hushan, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sweep(progress)` tells the listener, after each transaction, the step and how much of
    it this sweep has done so far."""
    monkeypatch.setattr(hushan.purge, "KEYS_PER_TRANSACTION", 2)
    due_pairs(engine, requests=3, histories=3)
    told: list[tuple[str, int]] = []
    report = Purger(engine.store, engine.clock, batch_rows=2).sweep(
        lambda step, count: told.append((step, count))
    )
    assert (report.requests_expired, report.keys_destroyed, report.rows_deleted) == (3, 3, 3)
    assert told == [
        ("requests expired", 2),
        ("requests expired", 3),
        ("keys destroyed", 2),
        ("keys destroyed", 3),
        ("message rows deleted", 2),  # two conversations' rows; the second not yet finished
        ("message rows deleted", 3),
        ("message rows deleted", 3),  # the last look, which found nothing left
    ]


def test_a_sweep_stops_taking_work_at_its_bound(
    engine: Hushan, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep goes on past one transaction's worth of work, but takes no new transaction's
    worth once a step has done `max_conversations`; the next sweep goes on from there."""
    monkeypatch.setattr(hushan.purge, "KEYS_PER_TRANSACTION", 2)
    due_pairs(engine, requests=5, histories=5)
    purger = Purger(engine.store, engine.clock, max_conversations=4)
    first = purger.sweep()
    assert (first.requests_expired, first.keys_destroyed, first.conversations_finished) == (4, 4, 4)
    second = purger.sweep()
    assert (second.requests_expired, second.keys_destroyed, second.conversations_finished) == (
        1,
        1,
        1,
    )
    assert not purger.sweep().did_work


def test_row_deletion_stops_at_its_bound(engine: Hushan, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hushan.purge, "CONVERSATIONS_PER_BATCH", 2)
    due_pairs(engine, requests=0, histories=5)
    purger = Purger(engine.store, engine.clock, max_conversations=2)
    assert [purger.sweep().conversations_finished for _ in range(4)] == [2, 2, 1, 0]
    assert audit_counts(engine)[AuditAction.ROWS_PURGED] == 5


def test_every_purge_step_is_logged_under_both_users_locks(backend: Backends) -> None:
    engine = backend.engine()
    checked = Interleaved(engine.store, lambda: None)
    engine.purger = Purger(checked.store, engine.clock, batch_rows=2)
    friends_with_history(engine, "A", "B", 5)
    engine.block_and_delete("A", "B")  # its rows are deleted by `finish`
    due_pairs(engine, requests=2, histories=2)
    engine.purger.sweep()
    counts = audit_counts(engine)
    assert counts[AuditAction.REQUEST_EXPIRED] == 2
    assert counts[AuditAction.KEY_DESTROYED] == counts[AuditAction.ROWS_PURGED] == 3
    assert checked.unlocked == []
    engine.store.close()


@pytest.mark.timeout(30)
def test_finishing_what_a_sweep_already_finished_returns(engine: Hushan) -> None:
    """The rows of a block-then-delete may be finished by a sweep first: `finish` then finds
    nothing left to do, and returns."""
    friends_with_history(engine, "A", "B", 3)
    engine.block_and_delete("A", "B")
    conversation = engine.inspect_pair("A", "B").conversation
    assert conversation is not None and conversation.rows_purged_at is not None
    engine.purger.finish(dataclasses.replace(conversation, rows_purged_at=None))
    assert audit_counts(engine)[AuditAction.ROWS_PURGED] == 1


def test_a_sweep_that_only_finishes_rows_still_flushes(
    sqlite_engine: Hushan, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep cut off after destroying a key leaves the key's old page in the WAL; the next
    sweep, which only finishes the rows, leaves it in neither the file nor the WAL."""
    engine = sqlite_engine
    friends_with_history(engine, "a", "b", 3)
    key, _ = stored_secrets(engine, conversation_id(engine, "a", "b"))
    mutual_delete(engine, "a", "b")
    assert isinstance(engine.clock, ManualClock)
    engine.clock.advance(timedelta(days=31))

    def power_cut(self: SqlTx, conversation_id: int, limit: int) -> int:
        raise RuntimeError("power cut")

    with monkeypatch.context() as patched:
        patched.setattr(SqlTx, "delete_messages", power_cut)
        with pytest.raises(RuntimeError, match="power cut"):
            engine.sweep()
    report = engine.sweep()
    assert (report.keys_destroyed, report.conversations_finished) == (0, 1)
    assert key not in file_bytes(engine)
