"""Organisations (`hushan.domain.orgs`), as engine calls: the directory, enterprise link
approvals and handovers.

Locks. An approval is decided (by an administrator, or by the deadline's sweep) under both
colleagues' locks, and re-read there: whichever comes second sees the first's decision, so an
approval is decided exactly once. A handover is started under the departing member's lock
(and each customer's), and the member's work contacts are read again there: a contact the
member removed meanwhile is not handed over, and the member's own removal never waits for more
than that one transaction.

Audit. Every step is an audit entry of the pair it is about (the two colleagues; the member
and a customer), so it is in the transparency log. An administrator is no side of that pair,
so the entries they cause have the system as their actor, with the administrator named in the
entry's detail (which stays out of the log's leaves); a customer's own answer has the customer
as its actor.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from hushan.domain import orgs
from hushan.domain.errors import (
    ApprovalNotFound,
    HandoverAlreadyAnswered,
    HandoverNotFound,
    NotOrgMember,
    OrgExists,
    OrgNotFound,
    UserNotFound,
    WorkIdTaken,
)
from hushan.domain.model import AuditAction, HistoryState
from hushan.domain.notices import NoticeKind
from hushan.domain.orgs import (
    AdminRole,
    Approval,
    ApprovalState,
    Decision,
    Handover,
    ItemState,
    Member,
    Org,
    OrgAdmin,
)
from hushan.domain.rules import check_user_id
from hushan.purge import audit_pair
from hushan.service.contacts import ContactsService, DeleteOutcome
from hushan.service.directory import record_step
from hushan.store.base import NO_LIMIT, Tx
from hushan.tlog.entries import SYSTEM

DUE_BATCH = 100  # approvals or handovers the sweep reads at once
DEPLOYMENT = "deployment"  # who acts with the admin key (or a service credential), in a detail


def org_lock(org_id: str) -> str:
    # Named among the users a write locks; no user id contains ':', so it is nobody's lock.
    return f"org:{org_id}"


class OrgsService(ContactsService):
    # ---- organisations, administrators, members (the admin key) -----------------------------
    def create_org(self, org_id: str, name: str, admin: str) -> Org:
        """A new organisation, with `admin` its first administrator."""
        check_user_id(org_id)
        orgs.check_org_name(name)
        now = self.clock.now()
        with self.store.write(admin, org_lock(org_id)) as tx:
            if tx.get_user(admin) is None:
                raise UserNotFound()
            if not tx.insert_org(org_id, name, now):
                raise OrgExists()
            tx.set_org_admin(org_id, admin, AdminRole.ADMIN, now)
        return Org(org_id, name, now)

    def get_org(self, org_id: str) -> Org:
        with self.store.read() as tx:
            return _org(tx, org_id)

    def set_org_admin(self, org_id: str, user_id: str, role: AdminRole) -> bool:
        """Bind an administrator in `role`, or change their role; False if already so."""
        with self.store.write(user_id, org_lock(org_id)) as tx:
            _org(tx, org_id)
            if tx.get_user(user_id) is None:
                raise UserNotFound()
            return tx.set_org_admin(org_id, user_id, role, self.clock.now())

    def org_admins(self, org_id: str) -> list[OrgAdmin]:
        with self.store.read() as tx:
            _org(tx, org_id)
            return tx.list_org_admins(org_id)

    def add_org_member(self, org_id: str, user_id: str, work_id: str) -> bool:
        """Link the user's personal account to the work identity `work_id`; False if they
        already are a member (under whatever work id)."""
        check_user_id(work_id)
        with self.store.write(user_id, org_lock(org_id)) as tx:
            _org(tx, org_id)
            if tx.get_user(user_id) is None:
                raise UserNotFound()
            holder = tx.member_by_work_id(org_id, work_id)
            if holder is not None and holder != user_id:
                raise WorkIdTaken()
            return tx.add_org_member(org_id, user_id, work_id, self.clock.now())

    def remove_org_member(self, org_id: str, user_id: str) -> bool:
        """Unlink the user's personal account from the organisation; False if they were no
        member. Refused while a handover of theirs is under way, or while they are the
        successor of a customer who has yet to answer one (`HandoverInProgress`). Each
        colleague who saw them in the directory is an audit entry of the pair (the system its
        actor, the deployment named in the detail); their administrator role, the pairs hidden
        and the approvals they are one side of stay as they are."""
        while True:
            with self.store.read() as tx:
                _org(tx, org_id)
                seen = {m.user for m in tx.directory(org_id, user_id, "", NO_LIMIT)}
            now = self.clock.now()
            with self.store.write(user_id, *sorted(seen), org_lock(org_id)) as tx:
                _org(tx, org_id)
                if user_id not in tx.org_members(org_id):
                    return False
                own = tx.open_handover(org_id, user_id)
                succeeding = tx.successor_handover(org_id, user_id, now)
                orgs.check_can_leave(user_id, own, succeeding, now)
                # Members come and go only under the organisation's lock, held now; hidden
                # pairs are only ever added, so this is `seen` or fewer.
                colleagues = [m.user for m in tx.directory(org_id, user_id, "", NO_LIMIT)]
                if not set(colleagues) <= seen:
                    continue  # one joined meanwhile, whose lock is not held: again
                tx.remove_org_member(org_id, user_id)
                detail = f"org={org_id} by={DEPLOYMENT}"
                for colleague in colleagues:
                    action = AuditAction.ORG_MEMBER_REMOVED
                    audit_pair(tx, now, SYSTEM, action, user_id, colleague, detail)
                return True

    def directory_view(
        self, actor: str, org_id: str, after: str = "", limit: int = NO_LIMIT
    ) -> list[Member]:
        """Whom the member sees in the organisation's directory, by work id, after the work id
        `after` (a keyset page)."""
        with self.store.read() as tx:
            _org(tx, org_id)
            if actor not in tx.org_members(org_id):
                raise NotOrgMember()
            return tx.directory(org_id, actor, after, limit)

    # ---- approvals ----------------------------------------------------------------------------
    def org_approvals(
        self, actor: str, org_id: str, open_only: bool, after_id: int = 0, limit: int = NO_LIMIT
    ) -> list[Approval]:
        """The organisation's approvals (the open ones, or all), oldest first, after the id
        `after_id`: for its administrators."""
        with self.store.read() as tx:
            _org(tx, org_id)
            orgs.check_is_admin(actor, tx.org_admins(org_id))
            return _approvals(tx, org_id, open_only, after_id, limit)

    def deployment_approvals(
        self, org_id: str, open_only: bool, after_id: int = 0, limit: int = NO_LIMIT
    ) -> list[Approval]:
        """The same list, for the deployment's operator (`hushan orgs approvals`)."""
        with self.store.read() as tx:
            _org(tx, org_id)
            return _approvals(tx, org_id, open_only, after_id, limit)

    def decide_approval(
        self, actor: str, org_id: str, approval_id: int, decision: Decision
    ) -> Approval:
        with self.store.read() as tx:
            found = _approval(tx, org_id, approval_id)
        now = self.clock.now()
        with self.store.write(found.user_a, found.user_b) as tx:
            approval = _approval(tx, org_id, approval_id)  # again, under the pair's lock
            admins = tx.org_admins(org_id)
            orgs.check_can_decide(approval, actor, admins)
            return self._settle(tx, now, approval, orgs.decided(decision), actor, admins[actor])

    def decide_due_approvals(self) -> int:
        """The deadline's policy, on every approval still pending past it; how many."""
        now = self.clock.now()
        policy = self.limits.enterprise_deadline_policy
        count = 0
        while True:
            with self.store.read() as tx:
                due = tx.due_approvals(now, DUE_BATCH)
            for found in due:
                with self.store.write(found.user_a, found.user_b) as tx:
                    approval = tx.get_approval(found.id)  # decided meanwhile, or not
                    if approval is None or approval.state is not ApprovalState.PENDING:
                        continue
                    self._settle(tx, now, approval, orgs.at_deadline(policy), None, None)
                    count += 1
            if len(due) < DUE_BATCH:
                return count

    def _settle(
        self,
        tx: Tx,
        now: datetime,
        approval: Approval,
        state: ApprovalState,
        by: str | None,
        role: AdminRole | None,
    ) -> Approval:
        """Decide the approval: by the administrator `by` in `role`, or (None) by the deadline.
        The approval's row keeps who decided, and an erasure clears it there; the audit entry,
        about a pair the administrator is no side of, names only the role."""
        tx.set_approval(approval.id, state, now, by)
        if orgs.hides(state):
            tx.hide_pair(approval.org_id, approval.user_a, approval.user_b, now)
        action = {
            ApprovalState.APPROVED: AuditAction.DIRECTORY_CHANGE_APPROVED,
            ApprovalState.REJECTED: AuditAction.DIRECTORY_CHANGE_REJECTED,
            ApprovalState.ESCALATED: AuditAction.DIRECTORY_CHANGE_ESCALATED,
            ApprovalState.APPLIED: AuditAction.DIRECTORY_CHANGE_APPLIED,
        }[state]
        record_step(tx, now, approval, action, f"by={role or 'deadline'}")
        settled = tx.get_approval(approval.id)
        assert settled is not None
        return settled

    # ---- handovers ----------------------------------------------------------------------------
    def start_handover(
        self, actor: str, org_id: str, member: str, successors: Sequence[str]
    ) -> Handover:
        """Hand the member's work contacts (their contacts outside the organisation) to the
        successors in turn; each customer is told and answers."""
        with self.store.read() as tx:
            _org(tx, org_id)
            orgs.check_is_admin(actor, tx.org_admins(org_id))
            seen = _work_contacts(tx, org_id, member)
        now = self.clock.now()
        with self.store.write(member, *seen, *successors, org_lock(org_id)) as tx:
            org = _org(tx, org_id)
            admins = tx.org_admins(org_id)
            orgs.check_is_admin(actor, admins)
            orgs.check_successors(member, successors, tx.org_members(org_id))
            orgs.check_no_open_handover(tx.open_handover(org_id, member), now)
            # Again under the member's lock: one they removed since is not handed over (and
            # one they added since waits for the next handover).
            still = set(_work_contacts(tx, org_id, member))
            customers = [c for c in seen if c in still]
            items = [
                (customer, successor, _open_conversation(tx, member, customer))
                for customer, successor in orgs.assign(customers, successors)
            ]
            ends_at = now + timedelta(days=self.limits.handover_days)
            handover_id = tx.insert_handover(org_id, member, actor, now, ends_at, items)
            for customer, successor, _ in items:
                detail = f"org={org_id} handover={handover_id} by={admins[actor]}"
                audit_pair(tx, now, SYSTEM, AuditAction.HANDOVER_OFFERED, member, customer, detail)
                tx.add_notice(
                    customer,
                    NoticeKind.HANDOVER_OFFERED,
                    successor,
                    now,
                    now,
                    f"handover={handover_id} from={member} org={org.name}",
                )
            if not items:
                tx.end_handover(handover_id, now)
            return _handover(tx, handover_id)

    def handover_report(self, actor: str, org_id: str, handover_id: int) -> Handover:
        with self.store.read() as tx:
            _org(tx, org_id)
            orgs.check_is_admin(actor, tx.org_admins(org_id))
            handover = _handover(tx, handover_id)
            if handover.org_id != org_id:
                raise HandoverNotFound()
            return handover

    def my_handovers(
        self, customer: str, after_id: int = 0, limit: int = NO_LIMIT
    ) -> list[Handover]:
        """The handovers that offered the customer a successor, each with that one item; oldest
        first, after the handover id `after_id`."""
        with self.store.read() as tx:
            return tx.customer_handovers(customer, after_id, limit)

    def answer_handover(self, customer: str, handover_id: int, accept: bool) -> ItemState:
        """The customer accepts (a friend request goes from them to the successor, the
        handover its verification message) or declines."""
        with self.store.read() as tx:
            handover = _handover(tx, handover_id)
        item = _item(handover, customer)
        now = self.clock.now()
        with self.store.write(customer, handover.member, item.successor) as tx:
            handover = _handover(tx, handover_id)
            item = _item(handover, customer)
            if item.state is not ItemState.OFFERED or handover.ended_at is not None:
                raise HandoverAlreadyAnswered()
            if now >= handover.ends_at:
                raise HandoverAlreadyAnswered("This handover has ended.")
            state = ItemState.ACCEPTED if accept else ItemState.DECLINED
            tx.set_item(handover_id, customer, state, now)
            action = AuditAction.HANDOVER_ACCEPTED if accept else AuditAction.HANDOVER_DECLINED
            detail = f"org={handover.org_id} handover={handover_id}"
            audit_pair(tx, now, customer, action, handover.member, customer, detail)
            if accept:
                org = _org(tx, handover.org_id)
                message = orgs.handover_message(org, handover.member, item.successor)
                message = message[: self.limits.max_verification_chars]
                self._send_request(tx, now, customer, item.successor, message)
            if all(i.state is not ItemState.OFFERED for i in _handover(tx, handover_id).items):
                tx.end_handover(handover_id, now)
            return state

    def end_due_handovers(self) -> int:
        """Handovers past their period end; whoever had not answered is recorded so."""
        now = self.clock.now()
        count = 0
        while True:
            with self.store.read() as tx:
                due = [_handover(tx, h.id) for h in tx.due_handovers(now, DUE_BATCH)]
            for found in due:
                waiting = [i.customer for i in found.items if i.state is ItemState.OFFERED]
                with self.store.write(found.member, *waiting) as tx:
                    handover = _handover(tx, found.id)
                    if handover.ended_at is not None:
                        continue
                    for item in handover.items:
                        if item.state is not ItemState.OFFERED:
                            continue
                        if item.customer not in waiting:  # not locked: the next sweep
                            break
                        tx.set_item(handover.id, item.customer, ItemState.UNANSWERED, now)
                        detail = f"org={handover.org_id} handover={handover.id}"
                        audit_pair(
                            tx,
                            now,
                            SYSTEM,
                            AuditAction.HANDOVER_UNANSWERED,
                            handover.member,
                            item.customer,
                            detail,
                        )
                    else:
                        tx.end_handover(handover.id, now)
                        count += 1
            if len(due) < DUE_BATCH:
                return count

    def remove_work_contacts(self, actor: str, org_id: str, member: str) -> int:
        """The organisation removes the member's work contacts from their list in bulk,
        refused while a handover of theirs is under way; how many it removed."""
        with self.store.read() as tx:
            _org(tx, org_id)
            orgs.check_is_admin(actor, tx.org_admins(org_id))
            if member not in tx.org_members(org_id):
                raise NotOrgMember(f"{member} is not a member of the organisation.")
            customers = _work_contacts(tx, org_id, member)

        def no_handover(tx: Tx) -> None:
            orgs.check_no_open_handover(tx.open_handover(org_id, member), self.clock.now())

        with self.store.read() as tx:
            no_handover(tx)  # refused before anything goes
        return sum(
            self.delete_contact(member, customer, guard=no_handover) is DeleteOutcome.DELETED
            for customer in customers
        )


def _org(tx: Tx, org_id: str) -> Org:
    found = tx.get_org(org_id)
    if found is None:
        raise OrgNotFound()
    return found


def _approvals(tx: Tx, org_id: str, open_only: bool, after_id: int, limit: int) -> list[Approval]:
    states = [s for s in ApprovalState if s.is_open or not open_only]
    return tx.approvals(org_id, states, after_id, limit)


def _approval(tx: Tx, org_id: str, approval_id: int) -> Approval:
    found = tx.get_approval(approval_id)
    if found is None or found.org_id != org_id:
        raise ApprovalNotFound()
    return found


def _handover(tx: Tx, handover_id: int) -> Handover:
    found = tx.get_handover(handover_id)
    if found is None:
        raise HandoverNotFound()
    return found


def _item(handover: Handover, customer: str) -> orgs.HandoverItem:
    for item in handover.items:
        if item.customer == customer:
            return item
    raise HandoverNotFound()


def _work_contacts(tx: Tx, org_id: str, member: str) -> list[str]:
    """The member's contacts outside the organisation: their customers."""
    colleagues = tx.org_members(org_id)
    return [c.user_id for c in tx.list_contacts(member) if c.user_id not in colleagues]


def _open_conversation(tx: Tx, member: str, customer: str) -> bool:
    """The two have a live history with something in it (the successor starts their own)."""
    conversation = tx.pair_facts(member, customer).conversation
    return (
        conversation is not None
        and conversation.state is HistoryState.ACTIVE
        and bool(tx.list_messages(conversation, 0, 1))
    )
