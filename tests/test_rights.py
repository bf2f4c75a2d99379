"""Data rights on each backend: an export holds everything the user may read; an erasure
leaves nothing of the erased user's readable data (every table's rows scanned for canaries,
and on SQLite the file's bytes), while the other side's audit and certificates still verify."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hushan.api.shapes import export_json
from hushan.clock import ManualClock
from hushan.domain.errors import ErasureInProgress, Unauthenticated, UserExists, UserNotFound
from hushan.domain.model import HistoryState
from hushan.domain.notices import NoticeGrade
from hushan.domain.posts import Audience
from hushan.domain.sync import ChangeKind
from hushan.service import Hushan
from hushan.store import migrate
from hushan.store.sqlite import SqliteStore
from hushan.sweeper import Sweeper
from hushan.tlog.certificate import LegalBasis, verify
from tests.conftest import engine_on
from tests.drive import befriend

X = "xcanary7q"  # the erased user: the id is a canary too
CANARIES = (
    X,
    "Canary Display Name 9z",
    "canary-message-body",
    "canary-post-body",
    "canary-request-text",
    "canary-proposal-text",
    "canarytag",
    "canary-device",
)


def world(engine: Hushan) -> dict[str, str]:
    """X with a bit of everything: friends with Y (a history), removed by Z, blocking W, a
    pending request to V and a proposal to Y, a post, a tag, a device, and a group with Y."""
    _, token = engine.create_user(X, "Canary Display Name 9z")
    for user in ("Y", "Z", "W", "V"):
        engine.create_user(user)
    befriend(engine, X, "Y")
    befriend(engine, X, "Z")
    befriend(engine, "Y", "Z")
    engine.send_message(X, "Y", "canary-message-body")
    engine.send_message("Y", X, "a reply")
    engine.update_settings("Z", notice_grade=NoticeGrade.NOTIFY)
    engine.delete_contact("Z", X)
    engine.block(X, "W")
    engine.send_request(X, "V", "canary-request-text")
    engine.propose_mutual_delete(X, "Y", "canary-proposal-text")
    engine.create_post(X, "canary-post-body")
    engine.tag_contact(X, "Y", "canarytag")
    engine.register_device(X, "canary-device")
    group = engine.create_group(X, "shared group").id
    engine.invite_to_group(X, group, "Y")
    engine.join_group("Y", group)
    return {"token": token, "group": str(group)}


def test_an_export_holds_what_the_user_may_read(engine: Hushan) -> None:
    world(engine)
    engine.block("V", X)  # X must not learn of it from the export
    engine.delete_contact(X, "Z")  # with Z: a mutual delete, the history buffered
    archive = export_json(engine.export_account(X), engine.limits.notice_minimum)
    assert archive["user"]["display_name"] == "Canary Display Name 9z"
    assert [(c["id"], c["tags"]) for c in archive["contacts"]] == [("Y", ["canarytag"])]
    assert archive["blocks"] == ["W"]
    assert [r["message"] for r in archive["requests"]["outgoing"]] == ["canary-request-text"]
    histories = {h["other"]: h for h in archive["histories"]}
    assert [m["body"] for m in histories["Y"]["messages"]] == ["canary-message-body", "a reply"]
    assert histories["Z"]["state"] == "buffered"
    assert [n["kind"] for n in archive["notices"]] == ["removed_you"]
    outgoing = archive["mutual_delete_proposals"]["outgoing"]
    assert [p["message"] for p in outgoing] == ["canary-proposal-text"]
    assert [p["body"] for p in archive["posts"]] == ["canary-post-body"]
    assert [g["name"] for g in archive["groups"]] == ["shared group"]
    assert [d["name"] for d in archive["devices"]] == ["canary-device"]
    # Only X's own actions, without the relation or history that would tell the other side:
    # neither Z's removal of X nor V's block of X shows.
    assert archive["audit"] and {e["actor"] for e in archive["audit"]} == {X}
    assert not [e for e in archive["audit"] if {"relation", "history_state"} & set(e)]
    with pytest.raises(UserNotFound):
        engine.export_account("nobody")


def rows_naming(engine: Hushan, canaries: tuple[str, ...]) -> list[tuple[str, tuple[object, ...]]]:
    found = []
    for table in engine.store.table_names():
        for row in engine.store.dump_rows(table):
            text = " ".join(
                bytes(v).decode("latin-1") if isinstance(v, bytes | memoryview) else str(v)
                for v in row
            )
            if any(canary in text for canary in canaries):
                found.append((table, row))
    return found


def test_erasure_leaves_nothing_of_the_user_while_the_others_proofs_hold(
    engine: Hushan,
) -> None:
    made = world(engine)
    engine.sweep()
    before = engine.log.latest_checkpoint()
    assert before is not None
    kept = engine.log.certificate("Y", X, LegalBasis.USER_REQUEST)  # about the pair, before
    y_entries = [e for e in engine.audit_log(0, 10_000) if e.actor == "Y"]
    phone = engine.register_device("Y", "Y's phone").id

    engine.erase_account(X)

    assert rows_naming(engine, CANARIES) == []
    with pytest.raises(UserNotFound):
        engine.get_user(X)
    with pytest.raises(Unauthenticated):
        engine.authenticate(made["token"])
    # Y's side: X is gone from the list, the history erased as by a block-then-delete.
    assert [c.user_id for c in engine.list_contacts("Y")] == ["Z"]
    with pytest.raises(UserNotFound):  # as for any id nobody holds
        engine.history("Y", X)
    assert [c.other_id for c in engine.chat_list("Y")] == ["Z"]
    changes = engine.device_changes("Y", phone).changes
    assert [c.kind for c in changes] == [ChangeKind.CONTACT_REMOVED, ChangeKind.PURGE]
    ref_for_y = changes[0].other
    assert ref_for_y.startswith("erased:") and changes[1].other == ref_for_y
    # Y's residue report still shows that history, and that Y's phone has yet to drop it.
    (residue,) = [r for r in engine.data_residue("Y") if r.other == ref_for_y]
    assert residue.state is HistoryState.PURGED and residue.devices_with_copies == [phone]
    (group,) = engine.list_groups("Y")
    assert (group.id, group.owner, group.members) == (int(made["group"]), "Y", 1)
    # Y's own audit entries stay, X named in each pair by that pair's own reference.
    after = [e for e in engine.audit_log(0, 10_000) if e.actor == "Y"]
    assert [(e.seq, e.action) for e in after] == [(e.seq, e.action) for e in y_entries]
    refs = {
        name
        for e in engine.audit_log(0, 10_000)
        for name in (e.user_a, e.user_b)
        if name.startswith("erased:")
    }
    assert ref_for_y in refs and len(refs) == 4  # one per pair: with Y, Z, W and V
    verify(kept, engine.log.signer.verifier)
    fresh = engine.log.certificate("Y", "Z", LegalBasis.USER_REQUEST, earlier_size=before.size)
    verify(fresh, engine.log.signer.verifier, earlier_checkpoint=before.note)
    # The id is free again, for a new account that inherits nothing.
    engine.create_user(X)
    assert engine.list_contacts(X) == [] and engine.list_groups(X) == []


def test_an_erasure_queued_for_a_worker_is_taken_by_the_next_poll(engine: Hushan) -> None:
    """`queue_erasure` (the API's part when a worker runs): the account is gone at once, the
    rest waits unclaimed, and a worker's `finish_erasures` takes it whatever its clock says
    (the API's test clock may be days ahead of the worker's)."""
    world(engine)
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(days=30))  # the API's clock ran ahead; queued stays takeable
    engine.queue_erasure(X)
    with pytest.raises(UserNotFound):
        engine.get_user(X)
    assert engine.erasure_pending(X)
    with pytest.raises(ErasureInProgress):
        engine.queue_erasure(X)
    with engine.store.read() as tx:
        assert tx.pending_erasures(datetime(2000, 1, 1, tzinfo=UTC), 5) == [X]
    assert engine.finish_erasures(limit=1) == 1
    assert not engine.erasure_pending(X)
    assert rows_naming(engine, CANARIES) == []
    with pytest.raises(UserNotFound):
        engine.queue_erasure(X)


def test_the_worker_takes_a_queued_erasure_at_once_not_at_its_next_sweep(
    engine: Hushan,
) -> None:
    befriend(engine, X, "Y")
    stop = threading.Event()
    sweeper = Sweeper(engine, interval=3600, stop=stop, erasure_poll=0.02)
    running = threading.Thread(target=sweeper.run)
    running.start()
    try:
        time.sleep(0.2)  # its first sweep is done: the next is an hour away
        engine.queue_erasure(X)
        deadline = time.monotonic() + 10
        while engine.erasure_pending(X):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        sweeper.stop()
        running.join()
    assert engine.list_contacts("Y") == []


def test_an_erasure_cut_short_is_finished_by_the_sweep_once_its_claim_lapses(
    engine: Hushan,
) -> None:
    world(engine)
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    now = clock.now()
    with engine.store.write(X) as tx:  # as if the process died right after the first step
        assert tx.start_erasure(X, now, "the-dead-process", now + timedelta(minutes=10))
    with pytest.raises(UserExists):  # the id is not free while its data remains
        engine.create_user(X)
    assert engine.sweep().erasures_finished == 0  # its claim still holds
    with pytest.raises(ErasureInProgress):
        engine.erase_account(X)
    clock.advance(timedelta(minutes=11))
    assert engine.sweep().erasures_finished == 1
    assert rows_naming(engine, CANARIES) == []
    assert engine.sweep().erasures_finished == 0
    with pytest.raises(UserNotFound):
        engine.erase_account(X)
    # The dead process comes back to life: whatever it would still write is refused.
    with pytest.raises(ErasureInProgress):
        engine._erase_pair(X, "Y", "the-dead-process")
    assert rows_naming(engine, CANARIES) == []


def test_no_byte_of_the_erased_user_is_left_in_the_sqlite_files(sqlite_engine: Hushan) -> None:
    world(sqlite_engine)
    sqlite_engine.sweep()
    sqlite_engine.erase_account(X)
    store = sqlite_engine.store
    assert isinstance(store, SqliteStore)
    files = [Path(f"{store.path}{suffix}") for suffix in ("", "-wal", "-shm")]
    data = b"".join(f.read_bytes() for f in files if f.exists())
    assert [c for c in CANARIES if c.encode() in data] == []


# What two users write to or about each other outside their history, one canary each way.
PAIR_TEXTS = (
    "p-request-9k",
    "q-request-9k",
    "p-proposal-9k",
    "q-proposal-9k",
    "ptag9k",
    "qtag9k",
    "p-post-for-q-9k",
    "q-post-for-p-9k",
)
PUBLIC_POST = "p-post-for-all-9k"  # P's post to everyone: not written to Q, and kept


def texts_between(engine: Hushan) -> None:
    """P and Q, friends, with every kind of text each can write to or about the other."""
    for user in ("P", "Q", "R"):
        engine.create_user(user)
    engine.send_request("Q", "P", "q-request-9k")
    engine.reject_request("P", "Q")
    engine.send_request("P", "Q", "p-request-9k")
    engine.accept_request("Q", "P")
    befriend(engine, "P", "R")
    engine.send_message("P", "Q", "a message")
    for author, other, tag in (("P", "Q", "ptag9k"), ("Q", "P", "qtag9k")):
        engine.tag_contact(author, other, tag)
        engine.create_post(
            author, f"{author.lower()}-post-for-{other.lower()}-9k", Audience.TAG, tag=tag
        )
    engine.tag_contact("P", "R", "friends")
    engine.create_post("P", PUBLIC_POST)
    engine.create_post("P", "p-post-for-r-and-q", Audience.TAG, tag="friends")
    engine.propose_mutual_delete("P", "Q", "p-proposal-9k")
    engine.withdraw_mutual_delete("P", "Q")
    engine.propose_mutual_delete("Q", "P", "q-proposal-9k")
    group = engine.create_group("P", "a group")
    engine.invite_to_group("P", group.id, "Q")


@pytest.mark.parametrize("parting", ["block_and_delete", "block_then_delete", "erasure"])
def test_nothing_the_two_wrote_to_each_other_survives_the_erasing_ways_to_part(
    engine: Hushan, parting: str
) -> None:
    texts_between(engine)
    assert {text for text in PAIR_TEXTS if rows_naming(engine, (text,))} == set(PAIR_TEXTS)
    if parting == "block_and_delete":
        engine.block_and_delete("P", "Q")
    elif parting == "block_then_delete":
        engine.block("P", "Q")
        engine.delete_contact("P", "Q")
    else:
        engine.erase_account("P")
    engine.sweep()
    assert rows_naming(engine, PAIR_TEXTS) == []
    if parting != "erasure":  # what P did not write to Q alone stays
        bodies = [p.body for p in engine.posts_by("R", "P").posts]
        assert bodies == ["p-post-for-r-and-q", PUBLIC_POST]


def test_no_pair_text_is_left_in_the_sqlite_files_after_block_and_delete(
    sqlite_engine: Hushan,
) -> None:
    texts_between(sqlite_engine)
    sqlite_engine.block_and_delete("P", "Q")
    store = sqlite_engine.store
    assert isinstance(store, SqliteStore)
    files = [Path(f"{store.path}{suffix}") for suffix in ("", "-wal", "-shm")]
    data = b"".join(f.read_bytes() for f in files if f.exists())
    assert [text for text in PAIR_TEXTS if text.encode() in data] == []
    assert PUBLIC_POST.encode() in data


def test_the_database_files_are_private(tmp_path: Path) -> None:
    """Created 0600, like the key files: SQLite gives the -wal and -shm files the database
    file's mode. One made readable by others elsewhere is made private when opened."""
    path = tmp_path / "hushan.db"
    store = SqliteStore(path)
    migrate.upgrade(f"sqlite:///{path}")
    engine = engine_on(store)
    engine.create_user("A")
    files = [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm")]
    assert {f.name: f.stat().st_mode & 0o777 for f in files} == {f.name: 0o600 for f in files}
    for f in files:  # the first store still open: its -wal and -shm are there
        f.chmod(0o644)
    SqliteStore(path).close()
    assert {f.name: f.stat().st_mode & 0o777 for f in files} == {f.name: 0o600 for f in files}
    store.close()
