"""The contract's table of the three ways to part, cell by cell, on the real engine (SQLite)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hushan.domain import errors
from hushan.domain.model import AuditAction, HistoryState, PairRelation, RequestOutcome
from hushan.service import Hushan, Limits
from tests.conftest import Backends


def friends(engine: Hushan, a: str = "a", b: str = "b", messages: int = 2) -> None:
    for user in (a, b):
        engine.create_user(user)
    engine.send_request(a, b, "hi")
    engine.accept_request(b, a)
    for i in range(messages):
        engine.send_message(a if i % 2 == 0 else b, b if i % 2 == 0 else a, f"m{i}")


def relation(engine: Hushan, a: str = "a", b: str = "b") -> PairRelation:
    return engine.relation_check([(a, b)])[0].relation


def bodies(engine: Hushan, me: str, other: str) -> list[str]:
    return [m.body for m in engine.history(me, other).messages]


# ---- one-way delete ------------------------------------------------------------------------
def test_one_way_relation_after_is_b_has_a(engine: Hushan):
    friends(engine)
    engine.delete_contact("a", "b")
    assert relation(engine) is PairRelation.B_HAS_A


def test_one_way_keeps_both_histories_readable(engine: Hushan):
    friends(engine)
    engine.delete_contact("a", "b")
    assert bodies(engine, "a", "b") == bodies(engine, "b", "a") == ["m0", "m1"]
    assert engine.history("a", "b").state is HistoryState.ACTIVE


def test_one_way_b_keeps_a_as_friend_and_is_refused_only_on_message(engine: Hushan):
    friends(engine)
    engine.delete_contact("a", "b")
    assert [c.user_id for c in engine.list_contacts("b")] == ["a"]
    with pytest.raises(errors.RecipientRemovedYou):
        engine.send_message("b", "a", "still there?")
    with pytest.raises(errors.NotInYourContacts):
        engine.send_message("a", "b", "x")
    assert bodies(engine, "b", "a") == ["m0", "m1"]  # nothing stored for a refused message


def test_one_way_recovery_is_unlimited_and_needs_no_verification(engine: Hushan, clock):
    friends(engine)
    engine.delete_contact("a", "b")
    clock.advance(timedelta(days=400))
    assert engine.send_request("a", "b") is RequestOutcome.ADDED
    assert relation(engine) is PairRelation.BOTH_WAY
    assert engine.list_requests("b", incoming=True) == []
    assert bodies(engine, "a", "b") == ["m0", "m1"]


# ---- mutual delete ---------------------------------------------------------------------------
@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")])
def test_mutual_in_either_order_buffers(engine: Hushan, clock, order: tuple[str, str]):
    friends(engine)
    first, second = order
    engine.delete_contact(first, engine_other := ("b" if first == "a" else "a"))
    assert engine.history("a", "b").state is HistoryState.ACTIVE
    engine.delete_contact(second, first)
    assert engine_other == second
    assert relation(engine) is PairRelation.NONE
    for me, other in (("a", "b"), ("b", "a")):
        history = engine.history(me, other)
        assert history.state is HistoryState.BUFFERED and history.read_only
        assert history.purge_at == clock.now() + timedelta(days=30)
        assert [m.body for m in history.messages] == ["m0", "m1"]
        assert engine.chat_list(me) == []  # hidden from the chat list


def test_mutual_restore_inside_buffer_is_whole_and_in_order(engine: Hushan, clock):
    friends(engine, messages=5)
    engine.delete_contact("a", "b")
    engine.delete_contact("b", "a")
    clock.advance(timedelta(days=29, hours=23))
    assert engine.send_request("b", "a", "sorry") is RequestOutcome.PENDING
    assert engine.accept_request("a", "b") is RequestOutcome.ADDED
    for me, other in (("a", "b"), ("b", "a")):
        history = engine.history(me, other)
        assert history.state is HistoryState.ACTIVE and history.purge_at is None
        assert [m.body for m in history.messages] == [f"m{i}" for i in range(5)]
    assert [r.other_id for r in engine.chat_list("a")] == ["b"]


def test_mutual_after_buffer_is_purged_for_good(engine: Hushan, clock):
    friends(engine)
    engine.delete_contact("a", "b")
    engine.delete_contact("b", "a")
    clock.advance(timedelta(days=30))
    report = engine.sweep()
    assert (report.keys_destroyed, report.rows_deleted) == (1, 2)
    engine.send_request("a", "b")
    engine.accept_request("b", "a")
    history = engine.history("a", "b")
    assert history.state is HistoryState.ACTIVE and history.messages == []


def test_refriending_at_purge_at_before_the_sweep_does_not_restore(engine: Hushan, clock):
    friends(engine)
    engine.delete_contact("a", "b")
    engine.delete_contact("b", "a")
    clock.advance(timedelta(days=30))
    engine.send_request("a", "b")
    engine.accept_request("b", "a")
    assert bodies(engine, "a", "b") == []
    actions = [e.action for e in engine.audit_log()]
    assert AuditAction.HISTORY_RESTORED not in actions
    assert AuditAction.KEY_DESTROYED in actions


def test_each_learns_only_by_their_own_action(engine: Hushan):
    friends(engine)
    engine.delete_contact("a", "b")
    engine.delete_contact("b", "a")
    with pytest.raises(errors.NotInYourContacts):
        engine.send_message("a", "b", "x")
    with pytest.raises(errors.NotInYourContacts):
        engine.send_message("b", "a", "x")


# ---- block, then delete ----------------------------------------------------------------------
@pytest.mark.parametrize("one_call", [True, False])
def test_block_then_delete_purges_both_at_once(engine: Hushan, one_call: bool):
    friends(engine)
    if one_call:
        engine.block_and_delete("a", "b")
    else:
        engine.block("a", "b")
        assert bodies(engine, "b", "a") == ["m0", "m1"]  # a block alone erases nothing
        engine.delete_contact("a", "b")
    assert relation(engine) is PairRelation.B_HAS_A
    for me, other in (("a", "b"), ("b", "a")):
        history = engine.history(me, other)
        assert history.state is HistoryState.PURGED and history.messages == []
    inspection = engine.inspect_pair("a", "b")
    assert not inspection.key_present and inspection.status.block_deleted
    assert inspection.conversation is not None and inspection.conversation.rows_purged_at


def test_block_then_delete_b_cannot_message_request_or_see(engine: Hushan):
    friends(engine)
    engine.block_and_delete("a", "b")
    with pytest.raises(errors.BlockedByRecipient):
        engine.send_message("b", "a", "x")
    # b still has a: told already_friends, as any request to a contact; a never sees it
    assert engine.send_request("b", "a", "let me in") is RequestOutcome.ALREADY_FRIENDS
    assert engine.list_requests("a", incoming=True) == []
    engine.delete_contact("b", "a")
    # a stranger now: told pending, as any request; listed as b's, swallowed for a
    assert engine.send_request("b", "a", "let me in") is RequestOutcome.PENDING
    assert engine.list_requests("a", incoming=True) == []
    assert [r.to_id for r in engine.list_requests("b", incoming=False)] == ["a"]


def test_block_then_delete_relation_until_b_removes_a(engine: Hushan):
    friends(engine)
    engine.block_and_delete("a", "b")
    engine.delete_contact("b", "a")
    assert relation(engine) is PairRelation.NONE
    assert engine.history("a", "b").state is HistoryState.PURGED


def test_block_then_delete_has_no_recovery(engine: Hushan):
    friends(engine)
    engine.block_and_delete("a", "b")
    engine.unblock("a", "b")
    assert engine.send_request("a", "b") is RequestOutcome.ADDED  # b still has a
    assert bodies(engine, "a", "b") == bodies(engine, "b", "a") == []


def test_block_delete_during_buffer_erases_and_forbids_restore(engine: Hushan, clock):
    friends(engine)
    engine.delete_contact("a", "b")
    engine.delete_contact("b", "a")
    result = engine.block_and_delete("a", "b")
    assert result.history_purged and not result.deleted
    engine.unblock("a", "b")
    engine.send_request("a", "b")
    engine.accept_request("b", "a")
    assert bodies(engine, "a", "b") == []


# ---- Rule 3 and idempotence ------------------------------------------------------------------
def test_block_removes_no_one_and_unblock_undoes_exactly_that(engine: Hushan):
    friends(engine)
    assert engine.block("a", "b").value == "blocked"
    assert relation(engine) is PairRelation.BOTH_WAY
    with pytest.raises(errors.BlockedByRecipient):
        engine.send_message("b", "a", "x")
    assert engine.unblock("a", "b").value == "unblocked"
    engine.send_message("b", "a", "back")
    assert bodies(engine, "a", "b")[-1] == "back"


def test_repeats_are_no_ops_with_clear_answers(engine: Hushan):
    friends(engine)
    engine.delete_contact("a", "b")
    assert engine.delete_contact("a", "b").value == "not_in_contacts"
    engine.block("a", "b")
    assert engine.block("a", "b").value == "already_blocked"
    engine.unblock("a", "b")
    assert engine.unblock("a", "b").value == "not_blocked"
    engine.create_user("c")
    assert engine.send_request("c", "a", "1") is RequestOutcome.PENDING
    assert engine.send_request("c", "a", "2") is RequestOutcome.PENDING
    incoming = engine.list_requests("a", incoming=True)
    assert [(r.from_id, r.message) for r in incoming] == [("c", "2")]
    assert engine.reject_request("a", "c").value == "rejected"
    assert engine.reject_request("a", "c").value == "not_pending"
    with pytest.raises(errors.RequestNotFound):
        engine.accept_request("a", "c")


def test_unknown_users_and_self(engine: Hushan):
    engine.create_user("a")
    with pytest.raises(errors.UserNotFound):
        engine.send_request("a", "ghost")
    with pytest.raises(errors.UserNotFound):
        engine.delete_contact("a", "ghost")
    with pytest.raises(errors.CannotBefriendSelf):
        engine.send_request("a", "a")
    with pytest.raises(errors.UserExists):
        engine.create_user("a")


def test_requests_expire_after_seven_days(engine: Hushan, clock):
    for user in ("a", "b"):
        engine.create_user(user)
    engine.send_request("a", "b")
    clock.advance(timedelta(days=7))
    assert engine.list_requests("b", incoming=True) == []
    with pytest.raises(errors.RequestNotFound):
        engine.accept_request("b", "a")
    assert engine.sweep().requests_expired == 1
    assert engine.audit_log()[-1].action is AuditAction.REQUEST_EXPIRED


def test_friend_limit(backend: Backends):
    engine = backend.engine(Limits(max_friends=2))
    for user in ("a", "b", "c", "d"):
        engine.create_user(user, verification_required=False)
    engine.send_request("a", "b")
    engine.send_request("a", "c")
    with pytest.raises(errors.FriendLimitReached):
        engine.send_request("a", "d")
    assert relation(engine, "a", "d") is PairRelation.NONE  # nothing half-applied
    engine.store.close()


def test_verification_off_befriends_both_ways_at_once(engine: Hushan):
    engine.create_user("a")
    engine.create_user("b", verification_required=False)
    assert engine.send_request("a", "b") is RequestOutcome.ADDED
    assert relation(engine) is PairRelation.BOTH_WAY


def test_one_way_removed_side_can_ask_again_without_learning_from_the_reply(engine: Hushan):
    friends(engine)
    engine.delete_contact("a", "b")
    # b still has a: b hears what b would hear if a had not removed b ...
    assert engine.send_request("b", "a", "还是朋友吗？") is RequestOutcome.ALREADY_FRIENDS
    assert engine.list_requests("b", incoming=False) == []
    # ... and the request reaches a, who may accept it: friends again, history kept.
    assert [(r.from_id, r.message) for r in engine.list_requests("a", incoming=True)] == [
        ("b", "还是朋友吗？")
    ]
    assert engine.accept_request("a", "b") is RequestOutcome.ADDED
    assert relation(engine) is PairRelation.BOTH_WAY
    assert bodies(engine, "a", "b") == ["m0", "m1"]


def test_friend_limit_counts_removals_too(backend: Backends):
    engine = backend.engine(Limits(max_friends=1))
    for user in ("a", "b", "c"):
        engine.create_user(user, verification_required=False)
    engine.send_request("a", "b")
    engine.delete_contact("a", "b")
    assert engine.send_request("a", "c") is RequestOutcome.ADDED  # the slot was freed
    with pytest.raises(errors.FriendLimitReached):
        engine.send_request("a", "b")
    engine.store.close()
