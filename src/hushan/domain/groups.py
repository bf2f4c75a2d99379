"""Groups (minimal: create, invite, join, leave, remove a member, list shared groups) and the
shared-group layer of the privacy layers.

Joining is by invitation, as a friend request is: a member invites someone they have in their
own list, and the invitee joins or declines. An invitation from someone the invitee blocks is
swallowed (Rule 3): the inviter sees `invited` as for any other, the invitee never sees it. So
no answer to the inviter depends on the invitee's side.

**Hiding shared groups.** A user may hide their shared-group membership from people who removed
them or whom they removed (`hide_shared_groups`). Then the groups two users have in common are
hidden from the viewer when:
- the viewer does not have the user in their own list (the viewer removed them, or never had
  them): the viewer knows their own side, so hiding tells them nothing new; or
- the user removed the viewer, and that removal is disclosed to the viewer by the user's notice
  grade (`on_contact` or `notify`).

A silent removal never hides them: hiding would itself tell the removed side what the `silent`
grade keeps from them. Looking at shared groups is an `on_contact` moment, like a message or a
look at the user's posts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hushan.domain.errors import GroupFull, InvalidGroupName, NotInYourContacts
from hushan.domain.model import PairFacts
from hushan.domain.rules import is_label


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    name: str
    owner: str
    created_at: datetime
    members: int = 0


@dataclass(frozen=True, slots=True)
class GroupMember:
    user_id: str
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class GroupInvitation:
    group_id: int
    group_name: str
    inviter: str
    invitee: str
    created_at: datetime
    swallowed: bool = False


class InviteOutcome(StrEnum):
    INVITED = "invited"  # also the answer to a swallowed invitation
    ALREADY_MEMBER = "already_member"


class MemberOutcome(StrEnum):
    REMOVED = "removed"
    NOT_A_MEMBER = "not_a_member"


class LeaveOutcome(StrEnum):
    LEFT = "left"
    DISSOLVED = "dissolved"  # the last member left: the group is gone


def check_group_name(name: str) -> str:
    if not is_label(name, 64):
        raise InvalidGroupName()
    return name


def check_can_invite(facts: PairFacts) -> None:
    """The inviter must have the invitee in their own list; only their own side is checked."""
    if not facts.actor_has_other:
        raise NotInYourContacts()


def check_room(members: int, max_members: int) -> None:
    if members >= max_members:
        raise GroupFull(f"A group has at most {max_members} members.")


def shared_groups_hidden(other_hides: bool, facts: PairFacts, removal_disclosed: bool) -> bool:
    """Whether the groups the actor shares with the other are hidden from the actor, by the
    other's `hide_shared_groups` (see the module's text for why a silent removal never hides)."""
    if not other_hides:
        return False
    return not facts.actor_has_other or removal_disclosed
