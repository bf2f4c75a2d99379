"""Groups on each backend: invitations (swallowed under a block), leaving, removing, and the
shared-group layer, whose hiding must never tell of a silent removal."""

from __future__ import annotations

import pytest

from hushan.domain.errors import (
    GroupFull,
    GroupInvitationNotFound,
    GroupNotFound,
    InvalidGroupName,
    NotGroupOwner,
    NotInYourContacts,
)
from hushan.domain.groups import InviteOutcome, LeaveOutcome, MemberOutcome
from hushan.domain.notices import NoticeGrade, NoticeKind
from hushan.service import Hushan, Limits
from tests.conftest import Backends
from tests.drive import befriend


def group_with(engine: Hushan, owner: str, *members: str, name: str = "家人群") -> int:
    """A group of `owner` and `members`, each a friend of the owner, invited and joined."""
    for member in members:
        befriend(engine, owner, member)
    group = engine.create_group(owner, name).id
    for member in members:
        assert engine.invite_to_group(owner, group, member) is InviteOutcome.INVITED
        engine.join_group(member, group)
    return group


def members(engine: Hushan, viewer: str, group: int) -> list[str]:
    return [m.user_id for m in engine.group_members(viewer, group)]


def test_create_invite_join_and_list(engine: Hushan) -> None:
    group = group_with(engine, "A", "B", "C")
    assert members(engine, "B", group) == ["A", "B", "C"]
    (listed,) = engine.list_groups("C")
    assert (listed.id, listed.name, listed.owner, listed.members) == (group, "家人群", "A", 3)
    assert engine.invite_to_group("B", group, "C") is InviteOutcome.ALREADY_MEMBER
    assert [g.id for g in engine.shared_groups("B", "C").groups] == [group]


def test_an_invitation_needs_a_contact_and_membership(engine: Hushan) -> None:
    group = group_with(engine, "A", "B")
    engine.create_user("S")
    with pytest.raises(NotInYourContacts):
        engine.invite_to_group("A", group, "S")
    with pytest.raises(GroupNotFound):  # an outsider cannot tell the group exists
        engine.invite_to_group("S", group, "A")
    with pytest.raises(GroupNotFound):
        engine.group_members("S", group)
    with pytest.raises(GroupNotFound):
        engine.group_members("A", group + 100)
    for name in ("", " padded", "x" * 65, "tab\there"):
        with pytest.raises(InvalidGroupName):
            engine.create_group("A", name)


def test_an_invitation_from_someone_the_invitee_blocks_is_swallowed(engine: Hushan) -> None:
    befriend(engine, "A", "B")
    engine.block("B", "A")
    group = engine.create_group("A", "g").id
    assert engine.invite_to_group("A", group, "B") is InviteOutcome.INVITED  # as for anyone
    assert engine.group_invitations("B") == []
    with pytest.raises(GroupInvitationNotFound):
        engine.join_group("B", group)
    assert members(engine, "A", group) == ["A"]


def test_an_invitation_is_hidden_once_the_invitee_blocks_the_inviter(engine: Hushan) -> None:
    befriend(engine, "A", "B")
    group = engine.create_group("A", "g").id
    engine.invite_to_group("A", group, "B")
    engine.invite_to_group("A", group, "B")  # repeated: replaces, no duplicate
    assert [(i.group_id, i.inviter) for i in engine.group_invitations("B")] == [(group, "A")]
    engine.block("B", "A")
    assert engine.group_invitations("B") == []
    with pytest.raises(GroupInvitationNotFound):
        engine.join_group("B", group)
    engine.unblock("B", "A")
    assert engine.join_group("B", group).members == 2


def test_decline(engine: Hushan) -> None:
    befriend(engine, "A", "B")
    group = engine.create_group("A", "g").id
    engine.invite_to_group("A", group, "B")
    engine.decline_group_invitation("B", group)
    assert engine.group_invitations("B") == []
    with pytest.raises(GroupInvitationNotFound):
        engine.decline_group_invitation("B", group)


def test_leaving_hands_the_group_on_and_the_last_one_out_dissolves_it(engine: Hushan) -> None:
    group = group_with(engine, "A", "B", "C")
    befriend(engine, "B", "D")
    engine.invite_to_group("B", group, "D")
    assert engine.leave_group("A", group) is LeaveOutcome.LEFT
    assert engine.list_groups("B")[0].owner == "B"  # the longest-standing member left
    assert engine.leave_group("C", group) is LeaveOutcome.LEFT
    assert engine.leave_group("B", group) is LeaveOutcome.DISSOLVED
    assert engine.group_invitations("D") == []  # invitations go with the group
    with pytest.raises(GroupNotFound):
        engine.group_members("B", group)


def test_only_the_owner_removes_others(engine: Hushan) -> None:
    group = group_with(engine, "A", "B", "C")
    with pytest.raises(NotGroupOwner):
        engine.remove_group_member("B", group, "C")
    assert engine.remove_group_member("A", group, "C") is MemberOutcome.REMOVED
    assert engine.remove_group_member("A", group, "C") is MemberOutcome.NOT_A_MEMBER
    assert members(engine, "A", group) == ["A", "B"]


def test_a_full_group_refuses_a_join_and_changes_nothing(backend: Backends) -> None:
    engine = backend.engine(Limits(max_group_members=2))
    group = group_with(engine, "A", "B")
    befriend(engine, "A", "C")
    engine.invite_to_group("A", group, "C")
    with pytest.raises(GroupFull):
        engine.join_group("C", group)
    assert members(engine, "A", group) == ["A", "B"]
    assert [i.group_id for i in engine.group_invitations("C")] == [group]  # still there


# A hides shared groups; B looks at the groups they share. Each row: how the pair parted,
# A's notice grade, whether B sees them, whether B is told A removed them.
HIDING = [
    ("nothing", NoticeGrade.SILENT, True, False),
    ("b_deletes_a", NoticeGrade.SILENT, False, False),  # B knows their own side
    ("a_deletes_b", NoticeGrade.SILENT, True, False),  # hiding would tell a silent removal
    ("a_deletes_b", NoticeGrade.ON_CONTACT, False, True),  # the look discloses it
    ("a_deletes_b", NoticeGrade.NOTIFY, False, True),
    ("mutual", NoticeGrade.SILENT, False, False),
]


@pytest.mark.parametrize(("way", "grade", "b_sees", "b_told"), HIDING)
def test_hiding_shared_groups_never_tells_a_silent_removal(
    engine: Hushan, way: str, grade: NoticeGrade, b_sees: bool, b_told: bool
) -> None:
    group = group_with(engine, "A", "B")
    engine.update_settings("A", notice_grade=grade, hide_shared_groups=True)
    if way in ("a_deletes_b", "mutual"):
        engine.delete_contact("A", "B")
    if way in ("b_deletes_a", "mutual"):
        engine.delete_contact("B", "A")
    view = engine.shared_groups("B", "A")
    assert ([g.id for g in view.groups] == [group]) is b_sees
    assert (view.removed_you_at is not None) is b_told
    told = [n for n in engine.notices("B") if n.kind is NoticeKind.REMOVED_YOU]
    assert (len(told) == 1) is b_told
    # Without the setting nothing is hidden, whatever the pair's state.
    engine.update_settings("A", hide_shared_groups=False)
    assert [g.id for g in engine.shared_groups("B", "A").groups] == [group]


def test_the_setting_is_kept(engine: Hushan) -> None:
    engine.create_user("A")
    assert engine.get_user("A").hide_shared_groups is False
    assert engine.update_settings("A", hide_shared_groups=True).hide_shared_groups is True
    assert engine.update_settings("A", notice_grade=NoticeGrade.NOTIFY).hide_shared_groups


def test_an_invitation_from_a_blocked_member_never_replaces_a_visible_one(
    engine: Hushan,
) -> None:
    group = group_with(engine, "C", "A")
    befriend(engine, "C", "B")
    befriend(engine, "A", "B")
    engine.block("B", "A")
    engine.invite_to_group("C", group, "B")
    assert engine.invite_to_group("A", group, "B") is InviteOutcome.INVITED
    assert [(i.group_id, i.inviter) for i in engine.group_invitations("B")] == [(group, "C")]
    assert engine.join_group("B", group).members == 3
