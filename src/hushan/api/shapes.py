"""Domain values shaped as the API's JSON: one function per kind, each the single source of
that shape (an export reuses them all). The reply models in hushan.api.replies document the
same shapes; the fuzzing checks every reply against them (tests/test_fuzz.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hushan.domain.cleanup import Candidate, CleanupBatch, ItemResult, RemovalPlan
from hushan.domain.credentials import Credential, TokenInfo
from hushan.domain.groups import Group, GroupInvitation
from hushan.domain.holds import LegalHold
from hushan.domain.miniprograms import MiniProgram
from hushan.domain.model import AuditEntry, FriendRequest, Message, PairStatus, User
from hushan.domain.notices import Notice, NoticeGrade, effective_grade
from hushan.domain.official import Binding, OfficialAccount
from hushan.domain.orgs import Approval, Handover, ItemState, Org
from hushan.domain.platforms import ARTICLE_SYNC_RATE, Platform, SyncRate, UnbindCase
from hushan.domain.posts import Post
from hushan.domain.proposals import Proposal
from hushan.domain.sync import Change, ChangeKind, ChangesPage, Device
from hushan.domain.webhooks import Alert, Delivery, Endpoint
from hushan.service import (
    AccountExport,
    AppliedBatch,
    History,
    PairInspection,
    RelationView,
    Residue,
    UndoneBatch,
)
from hushan.store.base import ChatRow, ContactRow


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def user_json(user: User) -> dict[str, Any]:
    # The public profile: never anything about the viewer's or anyone's relationship.
    return {"id": user.id, "display_name": user.display_name}


def admin_user_json(user: User) -> dict[str, Any]:
    return {**user_json(user), "created_at": iso(user.created_at)}


def settings_json(user: User, notice_minimum: NoticeGrade) -> dict[str, Any]:
    return {
        **user_json(user),
        "verification_required": user.verification_required,
        "notice_grade": user.notice_grade.value,
        "notice_grade_in_force": effective_grade(user.notice_grade, notice_minimum).value,
        "hide_shared_groups": user.hide_shared_groups,
    }


def relation_view_json(view: RelationView) -> dict[str, Any]:
    return {
        "other": view.other,
        "in_your_contacts": view.in_your_contacts,
        "you_block_them": view.you_block_them,
        "removed_you_at": iso(view.removed_you_at),
    }


def notice_json(notice: Notice) -> dict[str, Any]:
    return {
        "id": notice.id,
        "kind": notice.kind.value,
        "other": notice.other,
        "at": iso(notice.at),
        "delivered_at": iso(notice.delivered_at),
        "read": notice.read_at is not None,
        "detail": notice.detail,
    }


def post_json(post: Post) -> dict[str, Any]:
    return {
        "id": post.id,
        "author": post.author,
        "body": post.body,
        "audience": post.audience.value,
        "tag": post.tag,
        "posted_at": iso(post.created_at),
    }


def proposal_json(proposal: Proposal) -> dict[str, Any]:
    return {
        "from": proposal.proposer,
        "to": proposal.other,
        "message": proposal.message,
        "remove_anyway": proposal.remove_anyway,
        "status": proposal.status.value,
        "proposed_at": iso(proposal.created_at),
        "expires_at": iso(proposal.expires_at),
    }


def group_json(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "owner": group.owner,
        "members": group.members,
        "created_at": iso(group.created_at),
    }


def group_invitation_json(invitation: GroupInvitation) -> dict[str, Any]:
    return {
        "group": invitation.group_id,
        "group_name": invitation.group_name,
        "from": invitation.inviter,
        "invited_at": iso(invitation.created_at),
    }


def device_json(device: Device) -> dict[str, Any]:
    return {
        "id": device.id,
        "name": device.name,
        "cursor": device.cursor,
        "registered_at": iso(device.registered_at),
        "acknowledged_at": iso(device.acknowledged_at),
    }


def change_json(change: Change) -> dict[str, Any]:
    at = change.at.isoformat()
    found: dict[str, Any] = {
        "seq": change.seq,
        "kind": change.kind.value,
        "at": at,
        "other": change.other,
        "conversation": change.conversation_id,
    }
    message = change.message
    if message is not None:  # shaped here, not by message_json: the catch-up's hot loop
        found["message"] = {
            "id": message.id,
            "sender": message.sender_id,
            "body": message.body,
            "sent_at": at if message.sent_at is change.at else message.sent_at.isoformat(),
            "client_msg_id": message.client_msg_id,
        }
    if change.kind is ChangeKind.HISTORY_BUFFERED:
        found["purge_at"] = change.detail
    return found


def changes_json(page: ChangesPage) -> dict[str, Any]:
    return {
        "changes": [change_json(c) for c in page.changes],
        "next_cursor": page.next_cursor,
        "more": page.more,
    }


def residue_json(residue: Residue) -> dict[str, Any]:
    return {
        "other": residue.other,
        "conversation": residue.conversation_id,
        "state": residue.state.value,
        "purge_at": iso(residue.purge_at),
        "key_destroyed_at": iso(residue.key_destroyed_at),
        "rows_purged_at": iso(residue.rows_purged_at),
        "devices_with_copies": residue.devices_with_copies,
        "platforms_pending": residue.platforms_pending,
        "legal_hold": residue.legal_hold,
        "hold_reasons": [
            {"reason": h.reason, "case_ref": h.case_ref} for h in residue.hold_reasons
        ],
        "unbind_cases": [unbind_case_json(c) for c in residue.unbind_cases],
    }


def unbind_case_json(case: UnbindCase) -> dict[str, Any]:
    return {
        "id": case.id,
        "user_id": case.user_id,
        "platform_id": case.platform_id,
        "seq": case.seq,
        "type": case.event_type.value,
        "opened_at": iso(case.opened_at),
        "done_at": iso(case.done_at),
    }


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": iso(entry.at),
        "actor": entry.actor,
        "action": entry.action.value,
        "a": entry.user_a,
        "b": entry.user_b,
        "relation": entry.relation.value,
        "history_state": None if entry.history_state is None else entry.history_state.value,
        "detail": entry.detail,
        "credential": entry.credential,
    }


def token_json(token: TokenInfo, current: TokenInfo | None) -> dict[str, Any]:
    return {
        "id": token.id,
        "created_at": iso(token.created_at),
        "last_used_at": iso(token.last_used_at),
        "expires_at": iso(token.expires_at),
        "minted_by": token.minted_by,
        "current": current is not None and current.id == token.id,
    }


def credential_json(credential: Credential, secret: str | None = None) -> dict[str, Any]:
    found = {
        "id": credential.id,
        "name": credential.name,
        "scopes": sorted(credential.scopes),
        "created_at": iso(credential.created_at),
        "revoked_at": iso(credential.revoked_at),
        "previous_secret_expires_at": iso(credential.previous_expires_at),
    }
    if secret is not None:
        found["secret"] = secret
    return found


def hold_json(hold: LegalHold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "scope": hold.scope.value,
        "user": hold.user,
        "other": hold.other,
        "reason": hold.reason,
        "case_ref": hold.case_ref,
        "placed_at": iso(hold.placed_at),
        "expires_at": iso(hold.expires_at),
        "ended_at": iso(hold.ended_at),
        "ended_how": None if hold.ended_how is None else hold.ended_how.value,
    }


def export_json(export: AccountExport, notice_minimum: NoticeGrade) -> dict[str, Any]:
    """The archive of an export: every part in the shape its own endpoint answers with."""
    return {
        "format": "hushan-export/1",
        "exported_at": iso(export.exported_at),
        "user": settings_json(export.user, notice_minimum),
        "contacts": [{**contact_json(c), "tags": tags} for c, tags in export.contacts],
        "blocks": export.blocks,
        "requests": {
            "incoming": [request_json(r) for r in export.requests_incoming],
            "outgoing": [request_json(r) for r in export.requests_outgoing],
        },
        "histories": [
            {
                "other": h.other,
                "conversation": h.conversation.id,
                "state": h.conversation.state.value,
                "purge_at": iso(h.conversation.purge_at),
                "messages": [message_json(m) for m in h.messages],
            }
            for h in export.histories
        ],
        "notices": [notice_json(n) for n in export.notices],
        "mutual_delete_proposals": {
            "incoming": [proposal_json(p) for p in export.proposals_incoming],
            "outgoing": [proposal_json(p) for p in export.proposals_outgoing],
        },
        "posts": [post_json(p) for p in export.posts],
        "groups": [group_json(g) for g in export.groups],
        "devices": [device_json(d) for d in export.devices],
        "audit": [
            {k: v for k, v in audit_json(x).items() if k not in ("relation", "history_state")}
            for x in export.audit
        ],
        "cleanup_batches": [cleanup_summary_json(b) for b in export.cleanup_batches],
    }


def contact_json(row: ContactRow) -> dict[str, Any]:
    return {"id": row.user_id, "display_name": row.display_name, "added_at": iso(row.added_at)}


def request_json(request: FriendRequest) -> dict[str, Any]:
    return {
        "from": request.from_id,
        "to": request.to_id,
        "message": request.message,
        "status": request.status.value,
        "sent_at": iso(request.created_at),
        "expires_at": iso(request.expires_at),
    }


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "sender": message.sender_id,
        "body": message.body,
        "sent_at": iso(message.sent_at),
        "client_msg_id": message.client_msg_id,
    }


def history_json(history: History, messages: Sequence[Message]) -> dict[str, Any]:
    """The history's state and a page of its messages."""
    return {
        "state": None if history.state is None else history.state.value,
        "read_only": history.read_only,
        "purge_at": iso(history.purge_at),
        "messages": [message_json(m) for m in messages],
    }


def chat_json(row: ChatRow) -> dict[str, Any]:
    return {"with": row.other_id, "last_message_at": iso(row.last_message_at)}


def status_json(status: PairStatus) -> dict[str, Any]:
    return {
        "a": status.user_a,
        "b": status.user_b,
        "relation": status.relation.value,
        "a_blocks_b": status.a_blocks_b,
        "b_blocks_a": status.b_blocks_a,
        "history_state": None if status.history_state is None else status.history_state.value,
        "purge_at": iso(status.purge_at),
        "block_deleted": status.block_deleted,
    }


def inspection_json(inspection: PairInspection) -> dict[str, Any]:
    conversation = inspection.conversation
    return {
        **status_json(inspection.status),
        "conversation": None
        if conversation is None
        else {
            "id": conversation.id,
            "state": conversation.state.value,
            "created_at": iso(conversation.created_at),
            "purge_at": iso(conversation.purge_at),
            "key_present": inspection.key_present,
            "key_destroyed_at": iso(conversation.key_destroyed_at),
            "rows_purged_at": iso(conversation.rows_purged_at),
        },
    }


def account_json(account: OfficialAccount) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "created_at": iso(account.created_at),
        "fans": account.fans,
        "admins": account.admins,
    }


def bindings_json(found: Sequence[Binding]) -> list[dict[str, Any]]:
    return [{"id": b.user, "since": iso(b.since)} for b in found]


def endpoint_json(endpoint: Endpoint, secret: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": sorted(endpoint.event_types),
        "created_at": iso(endpoint.created_at),
        "failure_run": endpoint.failure_run,
        "disabled_at": iso(endpoint.disabled_at),
        "disabled_reason": endpoint.disabled_reason,
    }
    if secret is not None:
        found["secret"] = secret
    return found


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "seq": delivery.seq,
        "state": delivery.state.value,
        "attempts": delivery.attempts,
        "next_at": iso(delivery.next_at),
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "last_attempt_at": iso(delivery.last_attempt_at),
        "created_at": iso(delivery.created_at),
        "done_at": iso(delivery.done_at),
    }


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "endpoint_id": alert.endpoint_id,
        "at": iso(alert.at),
        "reason": alert.reason,
        "last_status": alert.last_status,
        "last_error": alert.last_error,
        "closed_at": iso(alert.closed_at),
    }


def platform_json(platform: Platform, secret: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": platform.id,
        "name": platform.name,
        "endpoint_id": platform.endpoint_id,
        "asset_policy": platform.asset_policy.value,
        "permission_policy": platform.permission_policy.value,
        "created_at": iso(platform.created_at),
    }
    if secret is not None:
        found["secret"] = secret
    return found


def mini_program_json(app: MiniProgram, secret: str) -> dict[str, Any]:
    return {
        "id": app.id,
        "name": app.name,
        "endpoint_id": app.endpoint_id,
        "created_at": iso(app.created_at),
        "secret": secret,
    }


def sync_rate_json(rate: SyncRate, window_seconds: int) -> dict[str, Any]:
    return {
        "platform_id": rate.platform_id,
        "window_seconds": window_seconds,
        "emitted": rate.emitted,
        "acknowledged": rate.acknowledged,
        "rate": rate.rate,
        "lag_p50_seconds": rate.lag_p50_seconds,
        "lag_p99_seconds": rate.lag_p99_seconds,
        "comparison_rate": ARTICLE_SYNC_RATE,
    }


def org_json(org: Org) -> dict[str, Any]:
    return {"id": org.id, "name": org.name, "created_at": iso(org.created_at)}


def approval_json(approval: Approval) -> dict[str, Any]:
    return {
        "id": approval.id,
        "org": approval.org_id,
        "pair": [approval.user_a, approval.user_b],
        "state": approval.state.value,
        "opened_at": iso(approval.opened_at),
        "due_at": iso(approval.due_at),
        "decided_at": iso(approval.decided_at),
        "decided_by": approval.decided_by,
    }


def handover_json(handover: Handover) -> dict[str, Any]:
    """The handover, its items, and its report: who moved, who declined, who did not answer
    (and, while it lasts, who has yet to)."""
    return {
        "id": handover.id,
        "org": handover.org_id,
        "member": handover.member,
        "started_by": handover.started_by,
        "started_at": iso(handover.started_at),
        "ends_at": iso(handover.ends_at),
        "ended_at": iso(handover.ended_at),
        "items": [
            {
                "customer": i.customer,
                "successor": i.successor,
                "open_conversation": i.open_conversation,
                "state": i.state.value,
                "decided_at": iso(i.decided_at),
            }
            for i in handover.items
        ],
        "report": {
            "moved": handover.of_state(ItemState.ACCEPTED),
            "declined": handover.of_state(ItemState.DECLINED),
            "unanswered": handover.of_state(ItemState.UNANSWERED),
            "waiting": handover.of_state(ItemState.OFFERED),
        },
    }


def candidate_json(candidate: Candidate) -> dict[str, Any]:
    return {
        "id": candidate.id,
        "display_name": candidate.display_name,
        "added_at": iso(candidate.added_at),
        "last_message_at": iso(candidate.last_message_at),
        "tags": list(candidate.tags),
        "layer": candidate.layer.value,
    }


def removal_plan_json(plan: RemovalPlan | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    return {
        "parting": plan.parting.value,
        "history_after": None if plan.history_after is None else plan.history_after.value,
        "purge_at": iso(plan.purge_at),
        "restorable": plan.restorable,
        "restorable_until": iso(plan.restorable_until),
        "undo_until": iso(plan.undo_until),
        "told": plan.told.value,
    }


def cleanup_items_json(results: Sequence[ItemResult]) -> list[dict[str, Any]]:
    return [
        {"other": r.other, "status": r.status.value, "plan": removal_plan_json(r.plan)}
        for r in results
    ]


def cleanup_batch_json(batch: AppliedBatch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "undo_until": iso(batch.undo_until),
        "contacts": cleanup_items_json(batch.results),
    }


def cleanup_summary_json(batch: CleanupBatch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "created_at": iso(batch.created_at),
        "undo_until": iso(batch.undo_until),
        "undone_at": iso(batch.undone_at),
        "removed": batch.removed,
    }


def cleanup_undo_json(undone: UndoneBatch) -> dict[str, Any]:
    return {
        "id": undone.id,
        "contacts": [
            {
                "other": r.other,
                "status": r.outcome.value,
                "reason": None if r.reason is None else r.reason.value,
                "told": None if r.told is None else r.told.value,
            }
            for r in undone.results
        ],
    }
