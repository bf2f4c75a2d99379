"""Enterprise link approvals opened when two colleagues part (hushan.domain.orgs), inside the
parting's own transaction, and the record of each step of one: its audit entry (the system
its actor, an administrator named in its detail) and a notice to the administrators."""

from __future__ import annotations

from datetime import datetime, timedelta

from hushan.clock import iso_utc
from hushan.domain import orgs
from hushan.domain.model import AuditAction
from hushan.domain.notices import NoticeKind
from hushan.domain.orgs import AdminRole, Approval
from hushan.purge import audit_pair
from hushan.service.engine import Limits
from hushan.store.base import Tx
from hushan.tlog.entries import SYSTEM


def open_directory_changes(tx: Tx, now: datetime, a: str, b: str, limits: Limits) -> None:
    """A mutual delete or a block-then-delete between `a` and `b`, inside its transaction
    (both users locked): in each organisation the two are members of, an approval for hiding
    each from the other's directory, unless one is open or the change already applied. The
    parting itself never waits for it."""
    for org_id in tx.shared_orgs(a, b):
        last = tx.pair_approval(org_id, a, b)
        if last is not None and (last.state.is_open or orgs.hides(last.state)):
            continue
        due_at = now + timedelta(hours=limits.enterprise_approval_hours)
        approval_id = tx.insert_approval(org_id, a, b, now, due_at)
        approval = tx.get_approval(approval_id)
        assert approval is not None
        opened = AuditAction.DIRECTORY_CHANGE_OPENED
        record_step(tx, now, approval, opened, f"due_at={iso_utc(due_at)}")


def record_step(tx: Tx, now: datetime, approval: Approval, action: AuditAction, extra: str) -> None:
    """The step's audit entry (the system its actor), and a notice to the administrators who
    may act on it now."""
    detail = f"org={approval.org_id} approval={approval.id} {extra}".strip()
    audit_pair(tx, now, SYSTEM, action, approval.user_a, approval.user_b, detail)
    admins = tx.org_admins(approval.org_id)
    told = [
        user
        for user, role in sorted(admins.items())
        if action is not AuditAction.DIRECTORY_CHANGE_ESCALATED or role is AdminRole.ESCALATION
    ]
    for admin in told:
        tx.add_notice(
            admin,
            NoticeKind.DIRECTORY_CHANGE,
            approval.user_a,
            now,
            now,
            f"{action.value} org={approval.org_id} approval={approval.id}",
        )
