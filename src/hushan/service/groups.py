"""Groups and the shared-group layer (`hushan.domain.groups`), as engine calls."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from hushan.domain import groups, rules
from hushan.domain.errors import (
    GroupInvitationNotFound,
    GroupNotFound,
    InvalidTransition,
    NotGroupOwner,
    UserNotFound,
)
from hushan.domain.groups import (
    Group,
    GroupInvitation,
    GroupMember,
    InviteOutcome,
    LeaveOutcome,
    MemberOutcome,
)
from hushan.service.notices import NoticesService
from hushan.store.base import FROM_START, NO_LIMIT, Tx


@dataclass(frozen=True, slots=True)
class SharedGroups:
    other: str
    groups: list[Group]  # empty when the other hides them from the viewer
    removed_you_at: datetime | None  # only where the other's grade discloses it


def group_lock(group_id: int) -> str:
    # Named among the users a write locks, so that changes to one group's membership (and its
    # owner) are serialized; no user id contains ':', so it is nobody's lock.
    return f"group:{group_id}"


class GroupsService(NoticesService):
    """Groups by invitation, and the shared groups two users may see."""

    def create_group(self, actor: str, name: str) -> Group:
        groups.check_group_name(name)
        now = self.clock.now()
        with self.store.write(actor) as tx:
            if tx.get_user(actor) is None:
                raise UserNotFound()
            group_id = tx.insert_group(name, actor, now)
        return Group(group_id, name, actor, now, members=1)

    def invite_to_group(self, actor: str, group_id: int, invitee: str) -> InviteOutcome:
        """Invite a contact of the actor's; the answer is the same whether or not the invitee
        blocks the actor (then the invitation is swallowed, Rule 3)."""
        now = self.clock.now()
        with self.store.write(actor, invitee, group_lock(group_id)) as tx:
            self._member_group(tx, group_id, actor)
            if tx.is_member(group_id, invitee):
                return InviteOutcome.ALREADY_MEMBER
            facts = self._facts(tx, actor, invitee)
            groups.check_can_invite(facts)
            tx.put_group_invitation(group_id, actor, invitee, facts.other_blocks_actor, now)
            return InviteOutcome.INVITED

    def join_group(self, actor: str, group_id: int) -> Group:
        """Accept a pending invitation to the group."""
        now = self.clock.now()
        with self.store.write(actor, group_lock(group_id)) as tx:
            self._take_invitation(tx, actor, group_id)
            group = tx.get_group(group_id)
            if group is None:  # invitations go with their group: a bug if it is missing
                raise InvalidTransition("An invitation to a group that is gone (a bug).")
            groups.check_room(group.members, self.limits.max_group_members)
            tx.add_member(group_id, actor, now)
        return dataclasses.replace(group, members=group.members + 1)

    def decline_group_invitation(self, actor: str, group_id: int) -> None:
        with self.store.write(actor, group_lock(group_id)) as tx:
            self._take_invitation(tx, actor, group_id)

    def group_invitations(
        self, actor: str, after_group: int = 0, limit: int = NO_LIMIT
    ) -> list[GroupInvitation]:
        with self.store.read() as tx:
            return tx.group_invitations(actor, after_group, limit)

    def leave_group(self, actor: str, group_id: int) -> LeaveOutcome:
        """Leave; an owner who leaves hands the group to its longest-standing member, and the
        last member out dissolves it."""
        with self.store.write(actor, group_lock(group_id)) as tx:
            return self._leave(tx, actor, self._member_group(tx, group_id, actor))

    @staticmethod
    def _leave(tx: Tx, actor: str, group: Group) -> LeaveOutcome:
        tx.remove_member(group.id, actor)
        rest = tx.group_members(group.id)
        if not rest:
            tx.delete_group(group.id)
            return LeaveOutcome.DISSOLVED
        if group.owner == actor:
            tx.set_group_owner(group.id, rest[0].user_id)
        return LeaveOutcome.LEFT

    def remove_group_member(self, actor: str, group_id: int, member: str) -> MemberOutcome:
        """The owner removes someone else (anyone may leave: `leave_group`)."""
        with self.store.write(actor, member, group_lock(group_id)) as tx:
            group = self._member_group(tx, group_id, actor)
            if group.owner != actor or member == actor:
                raise NotGroupOwner()
            if not tx.remove_member(group_id, member):
                return MemberOutcome.NOT_A_MEMBER
            return MemberOutcome.REMOVED

    def list_groups(self, actor: str, after_id: int = 0, limit: int = NO_LIMIT) -> list[Group]:
        with self.store.read() as tx:
            return tx.user_groups(actor, after_id, limit)

    def group_members(
        self,
        actor: str,
        group_id: int,
        after: tuple[datetime, str] = FROM_START,
        limit: int = NO_LIMIT,
    ) -> list[GroupMember]:
        with self.store.read() as tx:
            self._member_group(tx, group_id, actor)
            return tx.group_members(group_id, after, limit)

    def shared_groups(self, actor: str, other: str) -> SharedGroups:
        """The groups both are in, as the actor may see them: hidden by the other's
        `hide_shared_groups` only where that tells the actor nothing their own side and the
        other's notice grade do not (hushan.domain.groups); looking is an `on_contact` moment."""
        rules.check_not_self(actor, other)
        facts, removal = self._look_at(actor, other)
        with self.store.read() as tx:
            them = tx.get_user(other)
            hides = them is not None and them.hide_shared_groups
            hidden = groups.shared_groups_hidden(hides, facts, removal is not None)
            found = [] if hidden else tx.shared_groups(actor, other)
        return SharedGroups(other, found, None if removal is None else removal.at)

    @staticmethod
    def _member_group(tx: Tx, group_id: int, user_id: str) -> Group:
        """The group, if the user is in it; to anyone else it does not exist."""
        group = tx.get_group(group_id)
        if group is None or not tx.is_member(group_id, user_id):
            raise GroupNotFound()
        return group

    @staticmethod
    def _take_invitation(tx: Tx, invitee: str, group_id: int) -> GroupInvitation:
        """Take the invitee's invitation to the group, if they can see it: not swallowed, and
        not from someone they block now (as with friend requests)."""
        invitation = tx.take_group_invitation(group_id, invitee)
        if invitation is None or invitation.swallowed:
            raise GroupInvitationNotFound()
        if tx.pair_facts(invitee, invitation.inviter).actor_blocks_other:
            raise GroupInvitationNotFound()
        return invitation
