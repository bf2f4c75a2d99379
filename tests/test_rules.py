"""Unit tests of the domain rules: one test per rule and per refusal, no I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hushan.domain import cleanup, errors, rules
from hushan.domain.groups import check_room
from hushan.domain.model import (
    Conversation,
    HistoryEvent,
    HistoryState,
    PairFacts,
    PairRelation,
    RequestOutcome,
)
from hushan.domain.notices import NoticeGrade
from hushan.domain.rules import RequestAction
from hushan.domain.sync import check_cursor, check_device_room

NOW = datetime(2026, 11, 26, tzinfo=UTC)
FRIENDS = PairFacts(
    other_exists=True,
    other_requires_verification=True,
    actor_has_other=True,
    other_has_actor=True,
    actor_blocks_other=False,
    other_blocks_actor=False,
    conversation=None,
    actor_contacts=1,
    other_contacts=1,
    requests_pending=False,
)
STRANGERS = replace(FRIENDS, actor_has_other=False, other_has_actor=False)


def conversation(state: HistoryState, purge_at: datetime | None = None, **kw: bool) -> Conversation:
    return Conversation(1, "a", "b", state, purge_at, kw.get("block_deleted", False), NOW)


@pytest.mark.parametrize(
    ("a_has_b", "b_has_a", "relation"),
    [
        (True, True, PairRelation.BOTH_WAY),
        (True, False, PairRelation.A_HAS_B),
        (False, True, PairRelation.B_HAS_A),
        (False, False, PairRelation.NONE),
    ],
)
def test_pair_relation_has_four_answers(a_has_b: bool, b_has_a: bool, relation: PairRelation):
    assert PairRelation.of(a_has_b, b_has_a) is relation


# ---- Rule 2: messaging ---------------------------------------------------------------------
def test_friends_may_message():
    rules.check_message_allowed(FRIENDS)


@pytest.mark.parametrize(
    ("facts", "error"),
    [
        (replace(FRIENDS, other_has_actor=False), errors.RecipientRemovedYou),
        (replace(FRIENDS, actor_has_other=False), errors.NotInYourContacts),
        (replace(FRIENDS, other_blocks_actor=True), errors.BlockedByRecipient),
        (replace(FRIENDS, actor_blocks_other=True), errors.YouBlockedUser),
        # the sender's own state first: it leaks nothing about the other side
        (replace(STRANGERS, other_blocks_actor=True), errors.NotInYourContacts),
        # a block wins over a removal, so a blocked sender learns only "refused"
        (
            replace(FRIENDS, other_has_actor=False, other_blocks_actor=True),
            errors.BlockedByRecipient,
        ),
    ],
)
def test_message_refusals(facts: PairFacts, error: type[errors.HushanError]):
    with pytest.raises(error):
        rules.check_message_allowed(facts)


def test_refusal_codes_are_the_contracts():
    assert errors.RecipientRemovedYou.code == "recipient_removed_you"
    assert "对方开启了朋友验证" in errors.RecipientRemovedYou().message
    assert errors.NotInYourContacts.code == "not_in_your_contacts"
    assert errors.BlockedByRecipient.code == "blocked_by_recipient"
    assert "消息已发出，但被对方拒收了" in errors.BlockedByRecipient().message


@pytest.mark.parametrize(
    ("body", "error"),
    [("", errors.MessageEmpty), (" \n\t", errors.MessageEmpty), ("x" * 11, errors.MessageTooLong)],
)
def test_message_body_limits(body: str, error: type[errors.HushanError]):
    with pytest.raises(error):
        rules.check_message_body(body, max_chars=10)


def test_message_body_at_limit_is_fine():
    assert rules.check_message_body("x" * 10, max_chars=10) == "x" * 10


# ---- Rule 1: friend requests -----------------------------------------------------------------
def test_nobody_befriends_themselves():
    with pytest.raises(errors.CannotBefriendSelf):
        rules.check_not_self("a", "a")


@pytest.mark.parametrize("user_id", ["", "a" * 65, "has space", "slash/", "ünïcode"])
def test_bad_user_ids(user_id: str):
    with pytest.raises(errors.InvalidUserId):
        rules.check_user_id(user_id)


def test_request_to_stranger_waits_for_verification():
    decision = rules.decide_friend_request(STRANGERS)
    assert (decision.outcome, decision.action) == (RequestOutcome.PENDING, RequestAction.STORE)


def test_request_to_stranger_without_verification_adds_at_once():
    decision = rules.decide_friend_request(replace(STRANGERS, other_requires_verification=False))
    assert (decision.outcome, decision.action) == (RequestOutcome.ADDED, RequestAction.BEFRIEND)


def test_re_add_after_one_way_delete_needs_no_verification():
    # A removed B one-way: B still has A, so A's re-add succeeds at once.
    facts = replace(FRIENDS, actor_has_other=False)
    decision = rules.decide_friend_request(facts)
    assert (decision.outcome, decision.reason) == (RequestOutcome.ADDED, "still_has_you")


def test_request_after_being_removed_needs_verification():
    decision = rules.decide_friend_request(replace(FRIENDS, other_has_actor=False))
    assert decision.action is RequestAction.STORE


def test_crossing_request_accepts():
    decision = rules.decide_friend_request(STRANGERS, crossing_request=True)
    assert (decision.outcome, decision.reason) == (RequestOutcome.ADDED, "crossing_request")


def test_request_between_friends_changes_nothing():
    decision = rules.decide_friend_request(FRIENDS)
    assert decision.outcome is RequestOutcome.ALREADY_FRIENDS
    assert decision.action is RequestAction.NOTHING


def test_request_to_a_blocker_is_swallowed_and_looks_pending():
    decision = rules.decide_friend_request(replace(STRANGERS, other_blocks_actor=True))
    assert (decision.outcome, decision.action) == (RequestOutcome.PENDING, RequestAction.SWALLOW)
    # even when the blocker still has the sender, nothing is added
    facts = replace(FRIENDS, actor_has_other=False, other_blocks_actor=True)
    decision = rules.decide_friend_request(facts)
    assert (decision.outcome, decision.action) == (RequestOutcome.PENDING, RequestAction.SWALLOW)


def test_the_answer_depends_only_on_the_senders_own_side():
    # B still has A. Whether A removed B, blocked B, or neither, B hears the same answer.
    worlds = [
        FRIENDS,
        replace(FRIENDS, other_has_actor=False),
        replace(FRIENDS, other_blocks_actor=True),
        replace(FRIENDS, other_has_actor=False, other_blocks_actor=True),
        replace(FRIENDS, other_has_actor=False, other_requires_verification=False),
    ]
    answers = {rules.decide_friend_request(facts).outcome for facts in worlds}
    assert answers == {RequestOutcome.ALREADY_FRIENDS}
    # ... while what happens differs: the request reaches A only where A had removed B.
    actions = [rules.decide_friend_request(facts).action for facts in worlds]
    assert actions == [
        RequestAction.NOTHING,
        RequestAction.STORE,
        RequestAction.NOTHING,
        RequestAction.SWALLOW,
        RequestAction.BEFRIEND,
    ]


def test_accept_without_a_request_answers_by_the_actors_side():
    for facts in (FRIENDS, replace(FRIENDS, other_has_actor=False)):
        assert rules.check_accept_answer(facts) is RequestOutcome.ALREADY_FRIENDS
    with pytest.raises(errors.RequestNotFound):
        rules.check_accept_answer(STRANGERS)


def test_request_to_someone_you_block_is_refused():
    with pytest.raises(errors.YouBlockedUser):
        rules.decide_friend_request(replace(STRANGERS, actor_blocks_other=True))


def test_accepting_someone_you_block_is_refused():
    with pytest.raises(errors.YouBlockedUser):
        rules.check_can_accept(replace(STRANGERS, actor_blocks_other=True))
    rules.check_can_accept(STRANGERS)


def test_request_expiry_is_exclusive_of_its_moment():
    assert rules.request_is_live(NOW, NOW - timedelta(seconds=1))
    assert not rules.request_is_live(NOW, NOW)


def test_friend_limit():
    rules.check_friend_limit(9, 10)
    with pytest.raises(errors.FriendLimitReached):
        rules.check_friend_limit(10, 10)


def test_verification_message_limit():
    with pytest.raises(errors.VerificationTooLong):
        rules.check_verification_message("x" * 201, 200)


# ---- Rules 4-6: parting, buffer, restore, purge ----------------------------------------------
def test_second_delete_is_mutual():
    assert rules.is_mutual_delete(replace(FRIENDS, other_has_actor=False))
    assert not rules.is_mutual_delete(FRIENDS)


def test_delete_while_blocking_is_block_delete():
    def erases(facts: PairFacts) -> bool:  # Rule 6, as the removal's plan decides it
        seen = cleanup.seen_pair(facts, None)
        return cleanup.plan_removal(
            seen, NoticeGrade.SILENT, NOW, timedelta(1), timedelta(1)
        ).erases

    assert erases(replace(FRIENDS, actor_blocks_other=True))
    assert not erases(replace(FRIENDS, other_blocks_actor=True))


def test_buffer_sets_purge_at():
    assert rules.purge_at_for(NOW, timedelta(days=30)) == NOW + timedelta(days=30)


def test_purge_due_at_purge_at_inclusive():
    buffered = conversation(HistoryState.BUFFERED, NOW)
    assert not rules.purge_is_due(buffered, NOW - timedelta(microseconds=1))
    assert rules.purge_is_due(buffered, NOW)
    assert not rules.purge_is_due(conversation(HistoryState.ACTIVE), NOW)


def test_restore_only_inside_the_buffer():
    buffered = conversation(HistoryState.BUFFERED, NOW)
    assert rules.can_restore(buffered, NOW - timedelta(seconds=1))
    assert not rules.can_restore(buffered, NOW)
    assert not rules.can_restore(conversation(HistoryState.PURGED), NOW)
    assert not rules.can_restore(conversation(HistoryState.ACTIVE), NOW)


def test_restore_never_after_block_delete():
    erased = conversation(HistoryState.BUFFERED, NOW + timedelta(days=1), block_deleted=True)
    assert not rules.can_restore(erased, NOW)


@pytest.mark.parametrize(
    ("state", "event", "after"),
    [(state, event, after) for (state, event), after in rules.HISTORY_TRANSITIONS.items()],
)
def test_allowed_history_moves(state: HistoryState, event: HistoryEvent, after: HistoryState):
    assert rules.next_history_state(state, event) is after


FORBIDDEN = [
    (state, event)
    for state in HistoryState
    for event in HistoryEvent
    if (state, event) not in rules.HISTORY_TRANSITIONS
]


@pytest.mark.parametrize(("state", "event"), FORBIDDEN)
def test_forbidden_history_moves(state: HistoryState, event: HistoryEvent):
    with pytest.raises(errors.InvalidTransition):
        rules.next_history_state(state, event)


def test_purged_is_final():
    assert all((HistoryState.PURGED, e) not in rules.HISTORY_TRANSITIONS for e in HistoryEvent)


# ---- Rule 8 ----------------------------------------------------------------------------------
def test_relation_check_batch_limit():
    rules.check_pair_batch(1000, 1000)
    with pytest.raises(errors.TooManyPairs):
        rules.check_pair_batch(1001, 1000)


@pytest.mark.parametrize(
    ("facts", "crossing", "action", "reason"),
    [
        (FRIENDS, False, RequestAction.NOTHING, ""),
        (replace(STRANGERS, other_blocks_actor=True), False, RequestAction.SWALLOW, "blocked"),
        (replace(FRIENDS, actor_has_other=False), False, RequestAction.BEFRIEND, "still_has_you"),
        (
            replace(STRANGERS, other_requires_verification=False),
            False,
            RequestAction.BEFRIEND,
            "verification_off",
        ),
        (STRANGERS, True, RequestAction.BEFRIEND, "crossing_request"),
        (STRANGERS, False, RequestAction.STORE, ""),
    ],
)
def test_a_request_decision_says_why(
    facts: PairFacts, crossing: bool, action: RequestAction, reason: str
) -> None:
    """The reason goes into the audit entry of what the request did."""
    decision = rules.decide_friend_request(facts, crossing_request=crossing)
    assert (decision.action, decision.reason) == (action, reason)


def _raises(check: Callable[[], object]) -> str:
    with pytest.raises(errors.HushanError) as caught:
        check()
    assert str(caught.value) == caught.value.message  # an error reads as its message
    return caught.value.message


def test_each_limit_refusal_names_its_limit() -> None:
    assert _raises(lambda: rules.check_friend_limit(5, 5)) == "A user can have at most 5 friends."
    assert _raises(lambda: check_room(7, 7)) == "A group has at most 7 members."
    assert _raises(lambda: check_device_room(3, 3)) == "A user has at most 3 devices."
    assert _raises(lambda: rules.check_pair_batch(11, 10)) == (
        "11 pairs asked; at most 10 in one check."
    )
    assert _raises(lambda: check_cursor(9, 8, None)) == (
        "The cursor must be between 0 and 8, the feed's head."
    )
    assert (
        _raises(lambda: rules.next_history_state(HistoryState.PURGED, HistoryEvent.PURGE_DUE))
        == "History cannot go from purged on purge_due."
    )


def test_the_error_catalogue_lists_every_error_once_by_code() -> None:
    """What the docs' error table is checked against: every error class, sorted by code."""
    defined = {
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.HushanError)
    }
    listed = errors.all_error_classes()
    assert len(listed) == len(set(listed)) and set(listed) >= defined
    assert [cls.code for cls in listed] == sorted(cls.code for cls in listed)


@pytest.mark.parametrize(
    ("text", "storable"),
    [
        ("", True),
        ("同事 😀\u200b\u2028\ufeff\U0010fffd", True),
        ("\t\r\n\x01\x7f", True),  # control characters are text; labels refuse them
        ("a\x00b", False),  # PostgreSQL's text cannot hold NUL
        ("\ud800", False),  # lone surrogates have no UTF-8 form
        ("x\udfff", False),
    ],
)
def test_text_is_what_both_databases_store(text: str, storable: bool):
    assert rules.is_text(text) is storable
    if not storable:  # nor can a name: a tag, a group's, a device's
        assert not rules.is_label(f"a{text}b", 64)


def test_an_unknown_query_parameter_names_the_ones_the_endpoint_takes() -> None:
    found = errors.UnknownQueryParameter.of(["after", "x"], ["cursor", "limit"])
    assert found.message == (
        "Unknown query parameter after, x: this endpoint takes cursor, limit. Lists page with"
        " `limit` and `cursor` (the `next` of the page before)."
    )
    for old in ("after", "before"):
        assert "Lists page" in errors.UnknownQueryParameter.of([old], []).message
    other = errors.UnknownQueryParameter.of(["verbose"], [])
    assert (
        other.message == "Unknown query parameter verbose: this endpoint takes no query parameters."
    )
