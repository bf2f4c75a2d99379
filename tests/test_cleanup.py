"""Progressive cleanup (hushan.domain.cleanup, hushan.service.cleanup): the plan of a removal,
candidates, the preview, bulk removal and its undo, on each backend."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from hushan.clock import ManualClock
from hushan.domain import cleanup
from hushan.domain.cleanup import (
    Candidate,
    CandidateFilter,
    ItemStatus,
    NotRestorable,
    Parting,
    SeenPair,
    Told,
    UndoOutcome,
)
from hushan.domain.errors import (
    CannotBefriendSelf,
    CleanupAlreadyUndone,
    CleanupBatchNotFound,
    DuplicateContacts,
    TooManyContacts,
    UndoWindowPassed,
)
from hushan.domain.model import Conversation, HistoryState, PairRelation
from hushan.domain.notices import NoticeGrade, NoticeKind
from hushan.domain.posts import Layer
from hushan.service import Hushan, Limits
from tests.conftest import Backends
from tests.drive import befriend

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BUFFER, UNDO = timedelta(days=30), timedelta(minutes=10)


def history(state: HistoryState = HistoryState.ACTIVE) -> Conversation:
    return Conversation(1, "A", "B", state, None, False, NOW)


def seen(**changes: object) -> SeenPair:
    base: dict[str, object] = {
        "in_contacts": True,
        "you_block_them": False,
        "removal_disclosed": False,
        "history": history(),
        "grade": NoticeGrade.SILENT,
    }
    base.update(changes)
    return SeenPair(**base)  # type: ignore[arg-type]


def plan(pair: SeenPair, minimum: NoticeGrade = NoticeGrade.SILENT) -> cleanup.RemovalPlan:
    return cleanup.plan_removal(pair, minimum, NOW, BUFFER, UNDO)


# ---- the plan (domain) -----------------------------------------------------------------------
def test_a_plain_removal_is_one_way_restorable_without_limit_and_undoable() -> None:
    found = plan(seen())
    assert found.parting is Parting.ONE_WAY
    assert found.history_after is HistoryState.ACTIVE and found.purge_at is None
    assert found.restorable and found.restorable_until is None
    assert found.undo_until == NOW + UNDO
    assert found.told is Told.NOTHING


def test_a_disclosed_removal_of_you_makes_it_mutual_with_the_buffer() -> None:
    found = plan(seen(removal_disclosed=True))
    assert found.parting is Parting.MUTUAL
    assert found.history_after is HistoryState.BUFFERED
    assert found.purge_at == found.restorable_until == NOW + BUFFER
    assert found.restorable and found.undo_until == NOW + UNDO


def test_mutual_without_a_live_history_buffers_nothing() -> None:
    found = plan(seen(removal_disclosed=True, history=None))
    assert found.parting is Parting.MUTUAL
    assert found.history_after is None and found.purge_at is None


def test_your_block_makes_it_a_block_delete_that_erases_and_tells_nothing() -> None:
    found = plan(seen(you_block_them=True, grade=NoticeGrade.NOTIFY))
    assert found.parting is Parting.BLOCK_DELETE and found.erases
    assert found.history_after is HistoryState.PURGED
    assert not found.restorable and found.undo_until is None
    assert found.told is Told.NOTHING  # a block is never disclosed


def test_a_purged_history_stays_purged_and_none_stays_none_in_a_block_delete() -> None:
    assert plan(seen(you_block_them=True, history=None)).history_after is None
    gone = history(HistoryState.PURGED)
    assert plan(seen(you_block_them=True, history=gone)).history_after is HistoryState.PURGED


@pytest.mark.parametrize(
    ("grade", "minimum", "told"),
    [
        (NoticeGrade.SILENT, NoticeGrade.SILENT, Told.NOTHING),
        (NoticeGrade.ON_CONTACT, NoticeGrade.SILENT, Told.ON_CONTACT),
        (NoticeGrade.NOTIFY, NoticeGrade.SILENT, Told.AT_ONCE),
        (NoticeGrade.SILENT, NoticeGrade.NOTIFY, Told.AT_ONCE),  # raised to the minimum
    ],
)
def test_what_the_other_is_told_follows_the_grade_in_force(
    grade: NoticeGrade, minimum: NoticeGrade, told: Told
) -> None:
    assert plan(seen(grade=grade), minimum).told is told


def test_a_batch_refuses_too_many_duplicates_and_yourself() -> None:
    cleanup.check_batch("A", ["B", "C"], 2)
    with pytest.raises(TooManyContacts):
        cleanup.check_batch("A", ["B", "C", "D"], 2)
    with pytest.raises(DuplicateContacts):
        cleanup.check_batch("A", ["B", "C", "B"], 5)
    with pytest.raises(CannotBefriendSelf):
        cleanup.check_batch("A", ["B", "A"], 5)


def candidate(
    last: datetime | None, layer: Layer = Layer.FULL, tags: tuple[str, ...] = ()
) -> Candidate:
    return Candidate("B", "B", NOW, last, tags, layer)


def test_candidate_filters() -> None:
    old, recent = NOW - timedelta(days=100), NOW - timedelta(days=10)
    three = CandidateFilter(no_messages_months=3)
    assert three.matches(candidate(old), NOW)
    assert three.matches(candidate(None), NOW)  # never messaged: no message for 3 months either
    assert not three.matches(candidate(recent), NOW)
    assert not CandidateFilter(no_messages_months=4).matches(candidate(old), NOW)  # 100 < 120 days
    never = CandidateFilter(never_messaged=True)
    assert never.matches(candidate(None), NOW) and not never.matches(candidate(old), NOW)
    tagged = CandidateFilter(tag="同事")
    assert tagged.matches(candidate(old, tags=("同事",)), NOW)
    assert not tagged.matches(candidate(old, tags=("family",)), NOW)
    chat_only = CandidateFilter(chat_only_candidates=True)
    assert chat_only.matches(candidate(recent), NOW)
    assert not chat_only.matches(candidate(None), NOW)  # nothing to keep in reach
    assert not chat_only.matches(candidate(recent, Layer.CHAT_ONLY), NOW)  # there already
    both = CandidateFilter(no_messages_months=3, chat_only_candidates=True)
    assert both.matches(candidate(old), NOW) and not both.matches(candidate(recent), NOW)
    assert CandidateFilter().matches(candidate(None), NOW)


def test_a_month_is_thirty_days_and_its_edge_counts_as_quiet() -> None:
    three = CandidateFilter(no_messages_months=3)
    assert three.matches(candidate(NOW - timedelta(days=90)), NOW)
    assert not three.matches(candidate(NOW - timedelta(days=90) + timedelta(microseconds=1)), NOW)


def test_undo_decisions_read_only_the_removers_side() -> None:
    def decide(**changes: object) -> cleanup.UndoDecision:
        base: dict[str, object] = {
            "removed": True,
            "parting": Parting.ONE_WAY,
            "other_exists": True,
            "in_contacts": False,
            "you_block_them": False,
            "contacts": 0,
            "max_friends": 10,
        }
        base.update(changes)
        return cleanup.decide_undo(**base)  # type: ignore[arg-type]

    assert decide().outcome is UndoOutcome.RESTORED
    assert decide(parting=Parting.MUTUAL).outcome is UndoOutcome.RESTORED
    assert decide(removed=False).reason is NotRestorable.NOT_REMOVED
    assert decide(parting=Parting.BLOCK_DELETE).reason is NotRestorable.HISTORY_ERASED
    assert decide(other_exists=False).reason is NotRestorable.USER_ERASED
    assert decide(in_contacts=True).outcome is UndoOutcome.ALREADY_IN_CONTACTS
    assert decide(you_block_them=True).reason is NotRestorable.YOU_BLOCK_THEM
    assert decide(contacts=10).reason is NotRestorable.FRIEND_LIMIT_REACHED
    assert decide(contacts=9).outcome is UndoOutcome.RESTORED


def test_a_buffered_history_comes_back_only_as_the_removal_left_it() -> None:
    due = NOW + BUFFER
    buffered = Conversation(1, "A", "B", HistoryState.BUFFERED, due, False, NOW)
    assert cleanup.history_comes_back(buffered, NOW)
    assert not cleanup.history_comes_back(buffered, due)
    assert not cleanup.history_comes_back(None, NOW)
    assert not cleanup.history_comes_back(history(), NOW)
    sealed = Conversation(1, "A", "B", HistoryState.BUFFERED, due, True, NOW)
    assert not cleanup.history_comes_back(sealed, NOW)
    held = Conversation(1, "A", "B", HistoryState.BUFFERED, due, False, NOW, hold_deferred_at=NOW)
    assert not cleanup.history_comes_back(held, NOW)
    undated = Conversation(1, "A", "B", HistoryState.BUFFERED, None, False, NOW)
    assert not cleanup.history_comes_back(undated, NOW)


def test_a_mutual_removal_of_a_history_no_longer_active_buffers_nothing_new() -> None:
    buffered = history(HistoryState.BUFFERED)
    found = plan(seen(removal_disclosed=True, history=buffered))
    assert found.history_after is HistoryState.BUFFERED and found.purge_at is None
    gone = plan(seen(removal_disclosed=True, history=history(HistoryState.PURGED)))
    assert gone.history_after is HistoryState.PURGED and gone.restorable_until is None


# ---- the service, on each backend ------------------------------------------------------------
def crowd(engine: Hushan, n: int, owner: str = "A") -> list[str]:
    names = [f"c{i:03d}" for i in range(n)]
    for name in names:
        befriend(engine, owner, name)
    return names


def test_candidates_filter_and_page_by_id(engine: Hushan, clock: ManualClock) -> None:
    quiet, chatty, never = crowd(engine, 3)
    engine.send_message("A", quiet, "long ago")
    clock.advance(timedelta(days=200))
    engine.send_message(chatty, "A", "lately")
    engine.tag_contact("A", never, "同事")
    ids = [c.id for c in engine.cleanup_candidates("A", CandidateFilter(no_messages_months=6))]
    assert ids == [quiet, never]
    assert [c.id for c in engine.cleanup_candidates("A", CandidateFilter(never_messaged=True))] == [
        never
    ]
    assert [c.id for c in engine.cleanup_candidates("A", CandidateFilter(tag="同事"))] == [never]
    chat_only = CandidateFilter(chat_only_candidates=True)
    assert [c.id for c in engine.cleanup_candidates("A", chat_only)] == [quiet, chatty]
    engine.set_layer("A", chatty, Layer.CHAT_ONLY)
    assert [c.id for c in engine.cleanup_candidates("A", chat_only)] == [quiet]
    everyone = CandidateFilter()
    assert [c.id for c in engine.cleanup_candidates("A", everyone, limit=2)] == [quiet, chatty]
    assert [c.id for c in engine.cleanup_candidates("A", everyone, after=chatty)] == [never]


def test_preview_and_removal_agree_and_each_removal_is_a_single_delete(engine: Hushan) -> None:
    one_way, told, blocked, stranger = crowd(engine, 4)
    engine.create_user("nobody-yet")
    engine.update_settings(told, notice_grade=NoticeGrade.NOTIFY)
    engine.delete_contact(told, "A")  # A is told at once: A may know
    engine.block("A", blocked)
    engine.delete_contact("A", stranger)
    batch = [one_way, told, blocked, stranger, "nobody-yet", "ghost"]
    preview = engine.cleanup_preview("A", batch)
    applied = engine.cleanup_remove("A", batch)
    assert [r.status for r in preview] == [
        ItemStatus.READY,
        ItemStatus.READY,
        ItemStatus.READY,
        ItemStatus.NOT_IN_CONTACTS,
        ItemStatus.NOT_IN_CONTACTS,
        ItemStatus.USER_NOT_FOUND,
    ]
    assert [r.status for r in applied.results] == [
        ItemStatus.REMOVED,
        ItemStatus.REMOVED,
        ItemStatus.REMOVED,
        ItemStatus.NOT_IN_CONTACTS,
        ItemStatus.NOT_IN_CONTACTS,
        ItemStatus.USER_NOT_FOUND,
    ]
    assert [r.plan for r in applied.results] == [r.plan for r in preview]  # the same clock
    partings = [r.plan.parting if r.plan else None for r in applied.results[:3]]
    assert partings == [Parting.ONE_WAY, Parting.MUTUAL, Parting.BLOCK_DELETE]
    assert engine.list_contacts("A") == []
    assert engine.relation_check([("A", one_way)])[0].relation is PairRelation.B_HAS_A
    assert engine.history("A", told).state is HistoryState.BUFFERED
    assert engine.history("A", blocked).state is HistoryState.PURGED
    removed = [e for e in engine.audit_log() if e.action.value == "edge_removed"]
    assert {e.user_b for e in removed if e.actor == "A"} == {one_way, told, blocked, stranger}


def test_a_removal_is_told_as_the_grade_says(engine: Hushan) -> None:
    (other,) = crowd(engine, 1)
    engine.update_settings("A", notice_grade=NoticeGrade.NOTIFY)
    (result,) = engine.cleanup_remove("A", [other]).results
    assert result.plan is not None and result.plan.told is Told.AT_ONCE
    assert [n.kind for n in engine.notices(other)] == [NoticeKind.REMOVED_YOU]


def test_bad_batches_change_nothing(backend: Backends) -> None:
    engine = backend.engine(Limits(cleanup_max_batch=3))
    names = crowd(engine, 4)
    with pytest.raises(TooManyContacts):
        engine.cleanup_preview("A", names)
    with pytest.raises(TooManyContacts):
        engine.cleanup_remove("A", names)
    with pytest.raises(DuplicateContacts):
        engine.cleanup_remove("A", [names[0], names[0]])
    with pytest.raises(CannotBefriendSelf):
        engine.cleanup_preview("A", ["A"])
    assert [c.user_id for c in engine.list_contacts("A")] == names


def test_undo_restores_every_one_way_removal_with_its_layer(engine: Hushan) -> None:
    names = crowd(engine, 5)
    engine.set_layer("A", names[0], Layer.CHAT_ONLY)
    engine.tag_contact("A", names[1], "family")
    applied = engine.cleanup_remove("A", names)
    undone = engine.cleanup_undo("A", applied.id)
    assert [r.outcome for r in undone.results] == [UndoOutcome.RESTORED] * 5
    assert [c.user_id for c in engine.list_contacts("A")] == names
    relations = engine.relation_check([("A", n) for n in names])
    assert {r.relation for r in relations} == {PairRelation.BOTH_WAY}
    assert engine.cleanup_candidates("A", CandidateFilter(chat_only_candidates=False))[0].layer is (
        Layer.CHAT_ONLY
    )
    assert engine.cleanup_candidates("A", CandidateFilter(tag="family"))[0].id == names[1]
    with pytest.raises(CleanupAlreadyUndone):
        engine.cleanup_undo("A", applied.id)


def test_undo_says_what_cannot_come_back(engine: Hushan) -> None:
    erased, blocked, readded, later_blocked = crowd(engine, 4)
    engine.block("A", blocked)
    applied = engine.cleanup_remove("A", [erased, blocked, readded, later_blocked, "ghost"])
    engine.send_request("A", readded)  # they still had A: added at once
    engine.block("A", later_blocked)
    engine.erase_account(erased)
    undone = {r.other: (r.outcome, r.reason) for r in engine.cleanup_undo("A", applied.id).results}
    # an erased account leaves no row naming it: not even in the batch of someone who removed it
    assert erased not in undone
    assert undone == {
        blocked: (UndoOutcome.NOT_RESTORABLE, NotRestorable.HISTORY_ERASED),
        readded: (UndoOutcome.ALREADY_IN_CONTACTS, None),
        later_blocked: (UndoOutcome.NOT_RESTORABLE, NotRestorable.YOU_BLOCK_THEM),
        "ghost": (UndoOutcome.NOT_RESTORABLE, NotRestorable.NOT_REMOVED),
    }


def test_undo_within_the_window_only(engine: Hushan, clock: ManualClock) -> None:
    names = crowd(engine, 2)
    first = engine.cleanup_remove("A", names[:1])
    second = engine.cleanup_remove("A", names[1:])
    assert second.undo_until == clock.now() + timedelta(minutes=10)
    clock.advance(timedelta(minutes=10) - timedelta(microseconds=1))
    engine.cleanup_undo("A", first.id)
    clock.advance(timedelta(microseconds=1))
    with pytest.raises(UndoWindowPassed):
        engine.cleanup_undo("A", second.id)
    assert [c.user_id for c in engine.list_contacts("A")] == names[:1]


def test_a_batch_is_its_owners_alone(engine: Hushan) -> None:
    names = crowd(engine, 1)
    applied = engine.cleanup_remove("A", names)
    with pytest.raises(CleanupBatchNotFound):
        engine.cleanup_undo(names[0], applied.id)
    with pytest.raises(CleanupBatchNotFound):
        engine.cleanup_undo("A", applied.id + 1)


def test_undo_of_a_silent_mutual_delete_puts_the_history_back(
    engine: Hushan, clock: ManualClock
) -> None:
    """B removed A silently; A's bulk removal made it mutual (buffered). The undo restores A's
    side and the history as they were, and says so exactly as for a one-way removal."""
    (other,) = crowd(engine, 1)
    engine.send_message("A", other, "kept")
    engine.delete_contact(other, "A")
    applied = engine.cleanup_remove("A", [other])
    assert applied.results[0].plan is not None
    assert applied.results[0].plan.parting is Parting.ONE_WAY  # as far as A may know
    assert engine.history("A", other).state is HistoryState.BUFFERED
    (result,) = engine.cleanup_undo("A", applied.id).results
    assert result.outcome is UndoOutcome.RESTORED
    restored = engine.history("A", other)
    assert restored.state is HistoryState.ACTIVE and restored.purge_at is None
    assert [m.body for m in restored.messages] == ["kept"]
    assert engine.relation_check([("A", other)])[0].relation is PairRelation.A_HAS_B
    clock.advance(timedelta(days=31))
    engine.sweep()  # nothing is due any more
    assert engine.history(other, "A").state is HistoryState.ACTIVE


def test_batches_and_their_undos_bring_everyone_back(engine: Hushan) -> None:
    names = crowd(engine, 60)
    batches = [names[i : i + 20] for i in range(0, 60, 20)]
    applied = [engine.cleanup_remove("A", batch) for batch in batches]
    assert engine.list_contacts("A") == []
    for batch in applied:
        engine.cleanup_undo("A", batch.id)
    assert [c.user_id for c in engine.list_contacts("A")] == names


def test_a_bulk_removal_records_exactly_what_single_deletes_do(engine: Hushan) -> None:
    """The same parting, made by the bulk removal for A and by single deletes for W: the same
    audit entries (and so the same log leaves and webhook events), pair by pair."""
    for owner in ("A", "W"):
        plain, silent, blocked, notify = (f"{owner}{n}" for n in ("p", "s", "b", "n"))
        for other in (plain, silent, blocked, notify):
            befriend(engine, owner, other)
            engine.send_message(owner, other, "hi")
        engine.delete_contact(silent, owner)
        engine.block(owner, blocked)
        engine.update_settings(notify, notice_grade=NoticeGrade.NOTIFY)
        engine.delete_contact(notify, owner)
    start = engine.audit_log()[-1].seq
    engine.cleanup_remove("A", ["Ap", "As", "Ab", "An"])
    for other in ("Wp", "Ws", "Wb", "Wn"):
        engine.delete_contact("W", other)

    def entries(owner: str) -> list[tuple[object, ...]]:
        found = [e for e in engine.audit_log(start) if owner in (e.user_a, e.user_b)]
        # pair by pair: a block-then-delete's rows are purged after its commit, which for the
        # bulk removal is after the whole batch
        found.sort(key=lambda e: e.user_b)
        return [
            (e.action, e.relation, e.history_state, re.sub(r"\d+", "<n>", e.detail), e.user_b[1:])
            for e in found
        ]

    assert entries("A") == [
        tuple(v.replace("W", "A") if isinstance(v, str) else v for v in entry)
        for entry in entries("W")
    ]
    assert len(entries("A")) >= 4


def test_an_erasure_leaves_no_batch_naming_the_account(engine: Hushan) -> None:
    names = crowd(engine, 2)
    engine.cleanup_remove("A", names)
    engine.cleanup_remove(names[0], ["A"])  # a batch of someone else's naming A
    engine.erase_account("A")
    engine.finish_erasures()
    for table in ("cleanup_batches", "cleanup_items"):
        assert not [row for row in engine.store.dump_rows(table) if "A" in row]


def test_an_on_contact_removal_is_mutual_in_the_preview_only_once_told(engine: Hushan) -> None:
    (other,) = crowd(engine, 1)
    engine.update_settings(other, notice_grade=NoticeGrade.ON_CONTACT)
    engine.delete_contact(other, "A")
    (before,) = engine.cleanup_preview("A", [other])
    assert before.plan is not None and before.plan.parting is Parting.ONE_WAY  # not told yet
    assert engine.relation_view("A", other).removed_you_at is not None  # looking tells A
    (after,) = engine.cleanup_preview("A", [other])
    assert after.plan is not None and after.plan.parting is Parting.MUTUAL


def test_the_export_holds_the_users_batches(engine: Hushan) -> None:
    names = crowd(engine, 2)
    applied = engine.cleanup_remove("A", names)
    (batch,) = engine.export_account("A").cleanup_batches
    assert (batch.id, batch.removed, batch.undone_at) == (applied.id, 2, None)
    assert engine.export_account(names[0]).cleanup_batches == []
