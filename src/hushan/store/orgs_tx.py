"""The part of a transaction (`hushan.store.base.Tx`) that holds organisations: their
administrators and members, the directory, enterprise link approvals and handovers
(`hushan.store.orgs_sql` implements it for every backend)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from hushan.domain.orgs import (
    AdminRole,
    Approval,
    ApprovalState,
    Handover,
    ItemState,
    Member,
    Org,
    OrgAdmin,
)


class OrgsTx(ABC):
    # organisations, administrators, members
    @abstractmethod
    def insert_org(self, org_id: str, name: str, now: datetime) -> bool:
        """False (and nothing written) if the id is taken."""

    @abstractmethod
    def get_org(self, org_id: str) -> Org | None: ...

    @abstractmethod
    def set_org_admin(self, org_id: str, user_id: str, role: AdminRole, now: datetime) -> bool:
        """Bind the user as an administrator in `role` (or change their role); False if they
        already were so."""

    @abstractmethod
    def remove_org_admin(self, org_id: str, user_id: str) -> bool: ...

    @abstractmethod
    def org_admins(self, org_id: str) -> dict[str, AdminRole]: ...

    @abstractmethod
    def list_org_admins(self, org_id: str) -> list[OrgAdmin]: ...

    @abstractmethod
    def add_org_member(self, org_id: str, user_id: str, work_id: str, now: datetime) -> bool:
        """False if the user already is a member (whatever their work id)."""

    @abstractmethod
    def remove_org_member(self, org_id: str, user_id: str) -> bool:
        """False if the user was no member."""

    @abstractmethod
    def member_by_work_id(self, org_id: str, work_id: str) -> str | None: ...

    @abstractmethod
    def org_members(self, org_id: str) -> dict[str, Member]: ...

    @abstractmethod
    def shared_orgs(self, a: str, b: str) -> list[str]:
        """The organisations both users are members of."""

    @abstractmethod
    def directory(self, org_id: str, viewer: str, after: str, limit: int) -> list[Member]:
        """The members the viewer sees: every other one, less the pairs hidden; by work id,
        after the work id `after` (a keyset page)."""

    @abstractmethod
    def hide_pair(self, org_id: str, a: str, b: str, now: datetime) -> None: ...

    @abstractmethod
    def leave_orgs(self, user_id: str) -> None:
        """An erasure: the user is no one's colleague nor administrator any more."""

    # approvals
    @abstractmethod
    def insert_approval(
        self, org_id: str, a: str, b: str, now: datetime, due_at: datetime
    ) -> int: ...

    @abstractmethod
    def get_approval(self, approval_id: int) -> Approval | None: ...

    @abstractmethod
    def pair_approval(self, org_id: str, a: str, b: str) -> Approval | None:
        """The pair's newest approval in the organisation."""

    @abstractmethod
    def set_approval(
        self, approval_id: int, state: ApprovalState, now: datetime, by: str | None
    ) -> None: ...

    @abstractmethod
    def approvals(
        self,
        org_id: str,
        states: Sequence[ApprovalState],
        after_id: int,
        limit: int,
    ) -> list[Approval]:
        """The organisation's approvals in `states`, oldest first, after the id `after_id`."""

    @abstractmethod
    def due_approvals(self, now: datetime, limit: int) -> list[Approval]:
        """Pending approvals whose deadline has passed, the soonest due first."""

    # handovers
    @abstractmethod
    def insert_handover(
        self,
        org_id: str,
        member: str,
        by: str,
        now: datetime,
        ends_at: datetime,
        items: Sequence[tuple[str, str, bool]],
    ) -> int:
        """The handover and its items, each (customer, successor, open conversation)."""

    @abstractmethod
    def get_handover(self, handover_id: int) -> Handover | None:
        """With its items."""

    @abstractmethod
    def open_handover(self, org_id: str, member: str) -> Handover | None:
        """The member's handover in the organisation that has not ended, if any."""

    @abstractmethod
    def successor_handover(self, org_id: str, successor: str, now: datetime) -> Handover | None:
        """A handover in the organisation that has not ended (nor passed its end by `now`)
        with a customer offered to the successor who has yet to answer, if any (with its
        items)."""

    @abstractmethod
    def set_item(
        self, handover_id: int, customer: str, state: ItemState, now: datetime
    ) -> None: ...

    @abstractmethod
    def end_handover(self, handover_id: int, now: datetime) -> None: ...

    @abstractmethod
    def due_handovers(self, now: datetime, limit: int) -> list[Handover]:
        """Handovers not ended whose period has passed (without their items)."""

    @abstractmethod
    def customer_handovers(self, customer: str, after_id: int, limit: int) -> list[Handover]:
        """The handovers that offered the customer to a successor, each with only that item;
        oldest first, after the handover id `after_id`."""
