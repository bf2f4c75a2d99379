"""Organisations (企业), their directory, enterprise link approvals and handovers, without I/O.

From the design's "Enterprise link" and "Leaving a job":
- An organisation has **members**, each a work identity (`work_id`, unique in the organisation)
  linked to a personal hushan account, and **administrators** in one of two roles: `admin`, and
  `escalation`, the second line that an approval is escalated to.
- Its **directory** is who in the organisation sees whom: every member sees every other one,
  except a pair the organisation has hidden from each other.
- A **mutual delete** between two members (or a block-then-delete) opens an **approval** for
  the directory change that hides each from the other. It is due `approval_hours` later. An
  administrator approves (the change applies) or rejects it (the directory stays as it is); at
  the deadline the deployment's policy acts: `apply`, or `escalate` to the `escalation` role,
  which alone decides an escalated approval. The colleagues' own relationship never waits for
  it: only the directory does.
- A **handover**: an administrator hands a departing member's work contacts (their contacts
  outside the organisation, the customers) to one or more successors. Each customer accepts
  (a friend request goes to the successor) or declines. Until the handover ends, the
  organisation cannot remove the member's work contacts in bulk; the member's own removal of
  any contact is never refused.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hushan.domain.errors import (
    ApprovalAlreadyDecided,
    EscalationRoleRequired,
    HandoverInProgress,
    InvalidHandover,
    InvalidOrgName,
    NotOrgAdmin,
)
from hushan.domain.rules import is_label

MAX_ORG_NAME = 64


class AdminRole(StrEnum):
    ADMIN = "admin"
    ESCALATION = "escalation"  # the second line: decides escalated approvals


class DeadlinePolicy(StrEnum):
    APPLY = "apply"
    ESCALATE = "escalate"


class ApprovalState(StrEnum):
    PENDING = "pending"
    ESCALATED = "escalated"  # past its deadline, waiting for the escalation role
    APPROVED = "approved"  # by an administrator: the change applied
    REJECTED = "rejected"  # by an administrator: the directory unchanged
    APPLIED = "applied"  # by the deadline policy

    @property
    def is_open(self) -> bool:
        return self in (ApprovalState.PENDING, ApprovalState.ESCALATED)


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class ItemState(StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"  # the customer moved: a friend request went to the successor
    DECLINED = "declined"
    UNANSWERED = "unanswered"  # the handover ended before the customer answered


@dataclass(frozen=True, slots=True)
class Org:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OrgAdmin:
    user: str
    role: AdminRole
    since: datetime


@dataclass(frozen=True, slots=True)
class Member:
    user: str  # the personal hushan account
    work_id: str  # the work identity linked to it
    since: datetime


@dataclass(frozen=True, slots=True)
class Approval:
    id: int
    org_id: str
    user_a: str
    user_b: str
    state: ApprovalState
    opened_at: datetime
    due_at: datetime
    decided_at: datetime | None
    decided_by: str | None  # an administrator, or None for the deadline policy


@dataclass(frozen=True, slots=True)
class HandoverItem:
    customer: str
    successor: str
    open_conversation: bool  # the member and the customer had a live history when it started
    state: ItemState
    decided_at: datetime | None


@dataclass(frozen=True, slots=True)
class Handover:
    id: int
    org_id: str
    member: str
    started_by: str
    started_at: datetime
    ends_at: datetime
    ended_at: datetime | None
    items: tuple[HandoverItem, ...] = ()

    def of_state(self, state: ItemState) -> list[str]:
        return [item.customer for item in self.items if item.state is state]


def check_org_name(name: str) -> str:
    if not is_label(name, MAX_ORG_NAME):
        raise InvalidOrgName()
    return name


def check_is_admin(actor: str, admins: dict[str, AdminRole]) -> AdminRole:
    role = admins.get(actor)
    if role is None:
        raise NotOrgAdmin()
    return role


def check_can_decide(approval: Approval, actor: str, admins: dict[str, AdminRole]) -> None:
    """Any administrator decides a pending approval; only the escalation role an escalated
    one; nobody a decided one."""
    role = check_is_admin(actor, admins)
    if not approval.state.is_open:
        raise ApprovalAlreadyDecided()
    if approval.state is ApprovalState.ESCALATED and role is not AdminRole.ESCALATION:
        raise EscalationRoleRequired()


def decided(decision: Decision) -> ApprovalState:
    return ApprovalState.APPROVED if decision is Decision.APPROVE else ApprovalState.REJECTED


def at_deadline(policy: DeadlinePolicy) -> ApprovalState:
    """What a pending approval becomes when its deadline passes."""
    return ApprovalState.APPLIED if policy is DeadlinePolicy.APPLY else ApprovalState.ESCALATED


def hides(state: ApprovalState) -> bool:
    """Whether the approval, in this state, hides the pair from each other's directory."""
    return state in (ApprovalState.APPROVED, ApprovalState.APPLIED)


def assign(customers: Sequence[str], successors: Sequence[str]) -> list[tuple[str, str]]:
    """Each customer, in order, to the successors in turn."""
    return [(customer, successors[n % len(successors)]) for n, customer in enumerate(customers)]


def check_successors(member: str, successors: Sequence[str], members: Collection[str]) -> None:
    """At least one successor, each a member of the organisation, none the departing member,
    none twice."""
    if not successors or len(set(successors)) != len(successors):
        raise InvalidHandover("Name one or more successors, each once.")
    if member in successors:
        raise InvalidHandover("The departing member cannot be their own successor.")
    if member not in members:
        raise InvalidHandover(f"{member} is not a member of the organisation.")
    for successor in successors:
        if successor not in members:
            raise InvalidHandover(f"The successor {successor} is not a member of the organisation.")


def check_no_open_handover(open_handover: Handover | None, now: datetime) -> None:
    """The organisation removes a member's work contacts in bulk only once no handover of
    theirs is under way."""
    if open_handover is not None and open_handover.ended_at is None and now < open_handover.ends_at:
        raise HandoverInProgress.of(open_handover.id, open_handover.ends_at)


def check_can_leave(
    member: str, own: Handover | None, succeeding: Handover | None, now: datetime
) -> None:
    """A member stays in the organisation while a handover of their own work contacts is under
    way (`own`: its customers are still theirs to hand over, and the bulk removal after it
    needs them a member), and while they are the successor of a customer who has yet to answer
    one (`succeeding`)."""
    for handover, role in ((own, "of their work contacts"), (succeeding, "naming them successor")):
        if handover is None or handover.ended_at is not None or now >= handover.ends_at:
            continue
        waiting = [i for i in handover.items if i.state is ItemState.OFFERED]
        if handover is succeeding and not any(i.successor == member for i in waiting):
            continue
        raise HandoverInProgress(
            f"Handover {handover.id} {role} is under way until every customer has answered,"
            f" or until {handover.ends_at:%Y-%m-%dT%H:%M:%SZ} at the latest: {member} stays a"
            " member of the organisation until it ends."
        )


def handover_message(org: Org, member: str, successor: str) -> str:
    """The verification message of the request a customer's acceptance sends the successor."""
    return f"Handover from {member} at {org.name}: {successor} takes over. (工作交接)"
