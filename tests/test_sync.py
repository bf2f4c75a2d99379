"""The device sync feed on each backend: what reaches a device, in order, after each way to
part; a device away for 40 days; purge instructions never followed by content; cursors that
survive a restart; retention; the data residue report. And a property test: a device that
applies its feed ends with exactly the server's contacts and readable histories."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hushan.clock import ManualClock
from hushan.domain.errors import (
    CursorExpired,
    CursorOutOfRange,
    DeviceLimitReached,
    DeviceNotFound,
    InvalidDeviceName,
)
from hushan.domain.model import HistoryState
from hushan.domain.sync import Change, ChangeKind
from hushan.service import Hushan, Limits
from hushan.store.postgres import PostgresStore
from hushan.store.sqlite import SqliteStore
from tests.conftest import Backends, fresh_engine
from tests.drive import apply, befriend

DAY = timedelta(days=1)


def catch_up(engine: Hushan, user: str, device: str, page: int = 3) -> list[Change]:
    """Every change waiting for the device, page by page, acknowledging each page."""
    found: list[Change] = []
    while True:
        got = engine.device_changes(user, device, limit=page)
        found.extend(got.changes)
        engine.acknowledge(user, device, got.next_cursor)
        if not got.more:
            return found


def shape(changes: list[Change]) -> list[tuple[str, str, str]]:
    return [(c.kind.value, c.other, c.message.body if c.message else "") for c in changes]


def test_a_device_sees_its_own_side_and_nothing_of_a_silent_removal(engine: Hushan) -> None:
    for user in ("A", "B"):
        engine.create_user(user)
    phone = engine.register_device("B", "B's phone").id
    befriend(engine, "A", "B")
    engine.send_message("A", "B", "hi")
    engine.send_message("B", "A", "hello")
    engine.delete_contact("A", "B")  # silent: B's feed must not show it
    assert shape(catch_up(engine, "B", phone)) == [
        ("contact_added", "A", ""),
        ("message", "A", "hi"),
        ("message", "A", "hello"),
    ]


def test_a_device_away_for_40_days_catches_up_in_order(engine: Hushan) -> None:
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    for user in ("A", "B", "C"):
        engine.create_user(user)
    tablet = engine.register_device("B", "平板").id
    befriend(engine, "A", "B")
    befriend(engine, "B", "C")
    engine.send_message("A", "B", "from A")
    catch_up(engine, "B", tablet)  # then the tablet goes away
    engine.send_message("A", "B", "A, later")  # never served: purged before the tablet's back
    clock.advance(DAY)
    engine.delete_contact("A", "B")
    engine.delete_contact("B", "A")  # mutual: buffered for 30 days
    engine.send_message("C", "B", "from C")
    clock.advance(31 * DAY)
    engine.sweep()  # the purge, while the tablet is away
    engine.send_message("C", "B", "C, day 32")
    clock.advance(8 * DAY)
    seen = catch_up(engine, "B", tablet, page=2)
    seqs = [c.seq for c in seen]
    assert seqs == sorted(set(seqs))  # in order, no duplicate
    assert shape(seen) == [
        ("contact_removed", "A", ""),
        ("history_buffered", "A", ""),
        ("message", "C", "from C"),
        ("purge", "A", ""),
        ("message", "C", "C, day 32"),
    ]
    purge = next(c for c in seen if c.kind is ChangeKind.PURGE)
    assert not [c for c in seen if c.conversation_id == purge.conversation_id and c.message]
    assert engine.device_changes("B", tablet).changes == []  # caught up


def test_restore_and_block_then_delete_reach_both_sides(engine: Hushan) -> None:
    for user in ("A", "B"):
        engine.create_user(user)
    devices = {user: engine.register_device(user, "phone").id for user in ("A", "B")}
    befriend(engine, "A", "B")
    engine.send_message("A", "B", "kept")
    engine.delete_contact("A", "B")
    engine.delete_contact("B", "A")
    befriend(engine, "A", "B")  # within the buffer: the history comes back
    engine.send_message("B", "A", "doomed")
    engine.block_and_delete("A", "B")
    for user, other in (("A", "B"), ("B", "A")):
        kinds = [(c.kind.value, c.other) for c in catch_up(engine, user, devices[user])]
        assert ("restore", other) in kinds and kinds[-1] == ("purge", other)
        assert ("history_buffered", other) in kinds
    # Nothing of the erased conversation is served, not even to a device starting over.
    spare = engine.register_device("A", "spare").id
    assert [
        c.message for c in engine.device_changes("A", spare, after=0).changes if c.message
    ] == []


def test_cursors_survive_a_restart_and_only_move_forward(backend: Backends) -> None:
    engine = backend.engine()
    befriend(engine, "A", "B")
    phone = engine.register_device("A", "phone")
    # A feed starts with the user's first device (the friendship came before it), and a
    # user without a device has none: B's messages are in A's feed only.
    assert phone.cursor == engine.feed_head("A") == 0
    engine.send_message("B", "A", "one")
    engine.send_message("B", "A", "two")
    assert (engine.feed_head("A"), engine.feed_head("B")) == (2, 0)
    assert engine.acknowledge("A", phone.id, 1).cursor == 1
    assert engine.acknowledge("A", phone.id, 0).cursor == 1  # never back
    with pytest.raises(CursorOutOfRange):
        engine.acknowledge("A", phone.id, 3)
    with pytest.raises(CursorOutOfRange):
        engine.device_changes("A", phone.id, after=99)
    store = engine.store
    assert isinstance(store, SqliteStore | PostgresStore)
    reopened_store = (
        SqliteStore(store.path) if isinstance(store, SqliteStore) else PostgresStore(store.url)
    )
    store.close()  # as a server's restart: only what is stored is left
    reopened = Hushan(reopened_store, engine.sealer, engine.log.signer, engine.clock)
    try:
        assert [d.cursor for d in reopened.devices("A")] == [1]
        assert shape(reopened.device_changes("A", phone.id).changes) == [("message", "B", "two")]
    finally:
        reopened_store.close()


def test_retention_drops_old_changes_but_never_reuses_a_number(engine: Hushan) -> None:
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    befriend(engine, "A", "B")
    old = engine.register_device("A", "old").id
    engine.send_message("B", "A", "old news")
    engine.send_message("B", "A", "newest")
    head = engine.feed_head("A")
    clock.advance(91 * DAY)
    assert engine.sweep().changes_pruned == 1  # "old news"; the newest stays
    with pytest.raises(CursorExpired):
        engine.device_changes("A", old)
    assert engine.feed_head("A") == head  # the newest is kept
    engine.send_message("B", "A", "later")
    fresh = engine.register_device("A", "new").id
    assert engine.feed_head("A") == head + 1
    assert engine.device_changes("A", fresh).changes == []


def test_devices_refuse_bad_input(backend: Backends) -> None:
    engine = backend.engine(Limits(max_devices=2))
    engine.create_user("A")
    engine.register_device("A", "one")
    second = engine.register_device("A", "two").id
    with pytest.raises(DeviceLimitReached):
        engine.register_device("A", "three")
    engine.remove_device("A", second)
    with pytest.raises(DeviceNotFound):
        engine.remove_device("A", second)
    with pytest.raises(DeviceNotFound):
        engine.device_changes("A", second)
    for name in ("", " x", "a\nb", "x" * 65):
        with pytest.raises(InvalidDeviceName):
            engine.register_device("A", name)
    assert [d.name for d in engine.devices("A")] == ["one"]


def test_the_residue_report_names_devices_not_yet_purged(engine: Hushan) -> None:
    befriend(engine, "A", "B")
    befriend(engine, "A", "C")
    phone, laptop = (engine.register_device("A", name).id for name in ("phone", "laptop"))
    engine.send_message("A", "B", "x")
    engine.block_and_delete("A", "B")
    engine.acknowledge("A", phone, catch_up(engine, "A", phone)[-1].seq)
    report = {r.other: r for r in engine.data_residue("A")}
    assert report["B"].state is HistoryState.PURGED
    assert report["B"].key_destroyed_at is not None
    assert report["B"].devices_with_copies == [laptop]  # the phone confirmed the purge
    assert report["C"].state is HistoryState.ACTIVE
    assert sorted(report["C"].devices_with_copies) == sorted([phone, laptop])
    catch_up(engine, "A", laptop)
    assert engine.data_residue("A")[0].devices_with_copies == []


# ---- property: a device that applies its feed mirrors the server ---------------------------
USERS = ("x", "y", "z")
PAIRS = [(a, b) for a in USERS for b in USERS if a != b]
# Repeated entries weigh the draw towards what builds friendships, histories and partings.
ACTIONS = [
    *["request"] * 4,
    *["send"] * 4,
    *["delete"] * 2,
    "block",
    "unblock",
    "block_delete",
    "advance_31d",
    "sweep",
    "sync",
]
STEP = st.tuples(st.sampled_from(ACTIONS), st.sampled_from(PAIRS))


class Replica:
    """What a device keeps: its contacts, and each conversation's messages."""

    def __init__(self) -> None:
        self.contacts: set[str] = set()
        self.messages: dict[int, list[str]] = {}
        self.purged: set[int] = set()

    @classmethod
    def loaded(cls, engine: Hushan, user: str) -> Replica:
        """A device starting over: the current state, by the usual calls."""
        replica = cls()
        replica.contacts = {c.user_id for c in engine.list_contacts(user)}
        for history in engine.data_residue(user):
            if history.state is not HistoryState.PURGED:
                read = engine.history(user, history.other, limit=1000)
                replica.messages[history.conversation_id] = [m.body for m in read.messages]
        return replica

    def apply(self, change: Change) -> None:
        if change.kind is ChangeKind.CONTACT_ADDED:
            self.contacts.add(change.other)
        elif change.kind is ChangeKind.CONTACT_REMOVED:
            self.contacts.discard(change.other)
        elif change.kind is ChangeKind.PURGE:
            assert change.conversation_id is not None
            self.messages.pop(change.conversation_id, None)
            self.purged.add(change.conversation_id)
        elif change.kind is ChangeKind.MESSAGE:
            assert change.message is not None
            assert change.conversation_id not in self.purged  # never content after a purge
            self.messages.setdefault(change.message.conversation_id, []).append(change.message.body)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=5, max_size=40))
def test_a_device_applying_its_feed_mirrors_the_server(
    template_db: Path, steps: list[tuple[str, tuple[str, str]]]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        engine = fresh_engine(template_db, Path(directory))
        try:
            clock = engine.clock
            assert isinstance(clock, ManualClock)
            for user in USERS:  # without verification a request befriends at once: more to see
                engine.create_user(user, verification_required=False)
            devices = {user: engine.register_device(user, "d").id for user in USERS}
            replicas = {user: Replica() for user in USERS}

            def sync(user: str) -> None:
                try:
                    for change in catch_up(engine, user, devices[user], page=4):
                        replicas[user].apply(change)
                except CursorExpired:  # away past the retention: start over, as documented
                    devices[user] = engine.register_device(user, "d").id
                    replicas[user] = Replica.loaded(engine, user)

            for n, (action, (actor, other)) in enumerate(steps):
                if action == "advance_31d":
                    clock.advance(31 * DAY)
                elif action == "sweep":
                    engine.sweep()
                elif action == "sync":
                    for user in USERS:
                        sync(user)
                else:
                    apply(engine, action, actor, other, f"m{n}")
            for user in USERS:
                sync(user)
                replica = replicas[user]
                assert replica.contacts == {c.user_id for c in engine.list_contacts(user)}
                for conversation in engine.data_residue(user):
                    if conversation.state is HistoryState.PURGED:
                        assert conversation.conversation_id not in replica.messages
                    else:
                        history = engine.history(user, conversation.other, limit=1000)
                        held = replica.messages.get(conversation.conversation_id, [])
                        assert held == [m.body for m in history.messages]
        finally:
            engine.store.close()
