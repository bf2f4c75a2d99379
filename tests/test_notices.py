"""Graded deletion notices, on each backend: for each grade, each way to part and each thing the
removed side can do, what they see (the table below), and the rules around it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from hushan.bootstrap import build
from hushan.clock import ManualClock
from hushan.config import Settings
from hushan.domain.errors import (
    BlockedByRecipient,
    NoticeGradeBelowMinimum,
    NotInYourContacts,
    RecipientRemovedYou,
    Refused,
)
from hushan.domain.notices import (
    NoticeGrade,
    NoticeKind,
    Removal,
    check_notice_grade,
    effective_grade,
    is_disclosed,
)
from hushan.service import Hushan, Limits
from tests.conftest import Backends
from tests.drive import befriend as friends

SILENT, ON_CONTACT, NOTIFY = NoticeGrade.SILENT, NoticeGrade.ON_CONTACT, NoticeGrade.NOTIFY
WECHAT = "对方开启了朋友验证"  # the silent refusal: the same text as for any non-friend


def part(engine: Hushan, way: str) -> None:
    """A parts from B in one of the three ways."""
    if way == "one_way":
        engine.delete_contact("A", "B")
    elif way == "block_then_delete":
        engine.block_and_delete("A", "B")
    else:  # mutual: B had already removed A, then A removes B
        engine.delete_contact("B", "A")
        engine.delete_contact("A", "B")


@dataclass(frozen=True)
class Seen:
    """What B sees: notices before acting, the refusal of a message (code, plain or not), the
    relation view's disclosure, and notices after."""

    notices_before: int
    refusal: type[Refused]
    plain: bool  # the refusal names the removal; else WeChat's wording or "refused"
    view_discloses: bool
    notices_after: int


TABLE: dict[tuple[NoticeGrade, str], Seen] = {
    (SILENT, "one_way"): Seen(0, RecipientRemovedYou, False, False, 0),
    (SILENT, "block_then_delete"): Seen(0, BlockedByRecipient, False, False, 0),
    (SILENT, "mutual"): Seen(0, NotInYourContacts, False, False, 0),
    (ON_CONTACT, "one_way"): Seen(0, RecipientRemovedYou, True, True, 1),
    # A block-then-delete is always silent: telling of it would point at the block.
    (ON_CONTACT, "block_then_delete"): Seen(0, BlockedByRecipient, False, False, 0),
    # B removed A first: B's own state answers; looking at the relation discloses.
    (ON_CONTACT, "mutual"): Seen(0, NotInYourContacts, False, True, 1),
    (NOTIFY, "one_way"): Seen(1, RecipientRemovedYou, True, True, 1),
    (NOTIFY, "block_then_delete"): Seen(0, BlockedByRecipient, False, False, 0),
    (NOTIFY, "mutual"): Seen(1, NotInYourContacts, False, True, 1),
}


@pytest.mark.parametrize(("grade", "way"), list(TABLE))
def test_what_the_removed_side_sees(engine: Hushan, grade: NoticeGrade, way: str) -> None:
    expected = TABLE[grade, way]
    friends(engine, "A", "B")
    engine.update_settings("A", notice_grade=grade)
    part(engine, way)

    assert len(engine.notices("B")) == expected.notices_before
    with pytest.raises(Refused) as refused:
        engine.send_message("B", "A", "hi")
    assert type(refused.value) is expected.refusal
    plain = "removed you from their contacts" in refused.value.message
    assert plain is expected.plain
    if expected.refusal is RecipientRemovedYou and not plain:
        assert WECHAT in refused.value.message
    view = engine.relation_view("B", "A")
    assert (view.removed_you_at is not None) is expected.view_discloses
    assert view.in_your_contacts is (way != "mutual")  # B's own side, as B left it
    after = engine.notices("B")
    assert len(after) == expected.notices_after
    assert all(n.kind is NoticeKind.REMOVED_YOU and n.other == "A" for n in after)
    # Asking again tells nothing new: one notice per removal.
    with pytest.raises(Refused):
        engine.send_message("B", "A", "hi again")
    assert len(engine.notices("B")) == expected.notices_after


def test_silent_removal_looks_like_nothing_happened(engine: Hushan) -> None:
    friends(engine, "A", "B")
    friends(engine, "C", "D")
    engine.delete_contact("A", "B")
    removed, untouched = engine.relation_view("B", "A"), engine.relation_view("D", "C")
    assert (removed.in_your_contacts, removed.you_block_them, removed.removed_you_at) == (
        untouched.in_your_contacts,
        untouched.you_block_them,
        untouched.removed_you_at,
    )
    assert engine.notices("B") == []


def test_the_grade_at_the_time_of_removal_counts(engine: Hushan) -> None:
    friends(engine, "A", "B")
    engine.delete_contact("A", "B")  # silent
    engine.update_settings("A", notice_grade=NOTIFY)
    assert engine.relation_view("B", "A").removed_you_at is None
    assert engine.notices("B") == []
    friends(engine, "C", "D")
    engine.update_settings("C", notice_grade=ON_CONTACT)
    engine.delete_contact("C", "D")
    engine.update_settings("C", notice_grade=SILENT)  # too late to hide it
    assert engine.relation_view("D", "C").removed_you_at is not None


def test_a_re_add_ends_the_removal(engine: Hushan) -> None:
    friends(engine, "A", "B")
    engine.update_settings("A", notice_grade=ON_CONTACT)
    engine.delete_contact("A", "B")
    engine.send_request("A", "B")  # back at once (one-way re-add)
    assert engine.relation_view("B", "A").removed_you_at is None
    assert engine.send_message("B", "A", "welcome back").body == "welcome back"
    assert engine.notices("B") == []  # never told: the removal was undone before B looked


def test_the_deployment_minimum_raises_every_grade(backend: Backends) -> None:
    engine = backend.engine(Limits(notice_minimum=ON_CONTACT))
    friends(engine, "A", "B")
    assert engine.get_user("A").notice_grade is SILENT  # as chosen (the default)
    with pytest.raises(NoticeGradeBelowMinimum):
        engine.update_settings("A", notice_grade=SILENT)
    engine.delete_contact("A", "B")
    assert engine.relation_view("B", "A").removed_you_at is not None


def test_notices_are_marked_read_up_to_an_id(engine: Hushan) -> None:
    friends(engine, "A", "B")
    engine.create_user("C")
    engine.send_request("C", "B")
    engine.accept_request("B", "C")
    for remover in ("A", "C"):
        engine.update_settings(remover, notice_grade=NOTIFY)
        engine.delete_contact(remover, "B")
    first, second = engine.notices("B")
    assert (first.other, second.other) == ("A", "C")
    assert engine.mark_notices_read("B", first.id) == 1
    assert [n.read_at is not None for n in engine.notices("B")] == [True, False]
    assert engine.notices("B", after_id=first.id) == [engine.notices("B")[1]]
    assert engine.mark_notices_read("B", second.id) == 1
    assert engine.mark_notices_read("B", second.id) == 0


def test_the_minimum_is_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUSHAN_NOTICE_MINIMUM", "notify")
    engine = build(Settings(database_url=f"sqlite:///{tmp_path / 'h.db'}"))
    try:
        assert engine.limits.notice_minimum is NOTIFY
        friends(engine, "A", "B")
        engine.delete_contact("A", "B")
        assert [n.other for n in engine.notices("B")] == ["A"]
    finally:
        engine.store.close()
    monkeypatch.setenv("HUSHAN_NOTICE_MINIMUM", "shouting")
    with pytest.raises(ValidationError):
        Settings(database_url=f"sqlite:///{tmp_path / 'h.db'}")


def test_a_disclosed_removal_then_a_block_names_only_the_removal(engine: Hushan) -> None:
    friends(engine, "A", "B")
    engine.update_settings("A", notice_grade=ON_CONTACT)
    engine.delete_contact("A", "B")
    engine.block("A", "B")
    with pytest.raises(RecipientRemovedYou) as refused:
        engine.send_message("B", "A", "hi")
    assert "removed you from their contacts" in refused.value.message


def test_re_friending_after_a_mutual_delete_ends_both_removals(engine: Hushan) -> None:
    friends(engine, "A", "B")
    for user in ("A", "B"):
        engine.update_settings(user, notice_grade=ON_CONTACT)
    engine.delete_contact("A", "B")
    engine.delete_contact("B", "A")
    engine.send_request("B", "A")
    engine.accept_request("A", "B")  # A's edge comes back as "the other side" of B's re-add
    for me, other in (("A", "B"), ("B", "A")):
        assert engine.relation_view(me, other).removed_you_at is None
        engine.send_message(me, other, "hello again")
    assert engine.notices("A") == [] and engine.notices("B") == []


@pytest.mark.parametrize("minimum", list(NoticeGrade))
@pytest.mark.parametrize("chosen", list(NoticeGrade))
def test_the_minimum_raises_every_weaker_grade_and_keeps_a_stronger_one(
    chosen: NoticeGrade, minimum: NoticeGrade
) -> None:
    stronger = max(chosen, minimum, key=lambda grade: grade.rank)
    assert effective_grade(chosen, minimum) is stronger
    if chosen.rank < minimum.rank:
        with pytest.raises(NoticeGradeBelowMinimum) as caught:
            check_notice_grade(chosen, minimum)
        assert repr(minimum.value) in caught.value.message
        assert repr(chosen.value) in caught.value.message
    else:
        assert check_notice_grade(chosen, minimum) is chosen


def test_a_minimum_of_notify_raises_a_user_who_chose_on_contact(backend: Backends) -> None:
    engine = backend.engine()
    friends(engine, "A", "B")
    engine.update_settings("A", notice_grade=ON_CONTACT)  # chosen before the minimum rose
    engine.limits = Limits(notice_minimum=NOTIFY)
    engine.delete_contact("A", "B")
    assert [(n.kind, n.other) for n in engine.notices("B")] == [(NoticeKind.REMOVED_YOU, "A")]


def test_the_refusal_names_the_remover_and_the_day_of_the_removal(
    engine: Hushan, clock: ManualClock
) -> None:
    friends(engine, "A", "B")
    engine.update_settings("A", notice_grade=ON_CONTACT)
    removed_on = clock.now()
    engine.delete_contact("A", "B")
    clock.advance(timedelta(days=3))  # the day asked is not the day of the removal
    with pytest.raises(RecipientRemovedYou) as caught:
        engine.send_message("B", "A", "hello?")
    day = removed_on.strftime("%Y-%m-%d")
    assert caught.value.message == (
        f"A 已将你从通讯录中删除 ({day})。 (A removed you from their contacts on {day}:"
        " send a friend request if you want to be friends again.)"
    )


@pytest.mark.parametrize("grade", list(NoticeGrade))
def test_only_a_removal_under_a_telling_grade_is_disclosed(grade: NoticeGrade) -> None:
    """The domain's rule on its own: a silent removal is never told, whoever keeps it."""
    removal = Removal("a", "b", ManualClock().now(), grade, None)
    assert is_disclosed(removal) is (grade is not NoticeGrade.SILENT)
    assert is_disclosed(None) is False
