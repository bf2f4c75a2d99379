"""The one JSON reply class, and the models of every reply body for the OpenAPI document.

Handlers build their bodies with hushan.api.shapes and send them as `JsonReply`s, which FastAPI
sends as they are: the models here document the shapes and validate nothing at run time (the
fuzzing checks every reply against them, tests/test_fuzz.py). Each model forbids other fields,
so that a field added to a shape and not here fails that check.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

from hushan.domain.cleanup import ItemStatus, NotRestorable, Parting, Told, UndoOutcome
from hushan.domain.model import HistoryState
from hushan.domain.notices import NoticeGrade
from hushan.domain.posts import Audience, Layer


class JsonReply(JSONResponse):
    """pydantic-core's encoder, about four times faster than `json` here."""

    def render(self, content: Any) -> bytes:
        return to_json(content)


class Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Reply):
    code: str = Field(description="Stable: the README and docs/api.md list every code.")
    message: str = Field(description="For people; may change.")


class ErrorReply(Reply):
    """Every error the server sends, whatever its status."""

    error: ErrorDetail


class Paged(Reply):
    """A page of a list (docs/api.md, "Paging")."""

    next: str | None = Field(
        description="The `cursor` of the next page; null on the last page.",
    )


class StatusReply(Reply):
    status: str


class UserReply(Reply):
    id: str
    display_name: str


class ListedUserReply(UserReply):
    created_at: datetime | None


class UsersReply(Paged):
    users: list[ListedUserReply]


class CreatedUserReply(Reply):
    user: UserReply
    verification_required: bool
    token: str


class TokenReply(Reply):
    token: str = Field(description="The secret: shown once, never again.")
    id: str
    expires_at: datetime | None


class TokenInfoReply(Reply):
    id: str
    created_at: datetime | None
    last_used_at: datetime | None = Field(description="Recorded at most once a minute.")
    expires_at: datetime | None
    minted_by: str | None = Field(description="The service credential that minted it.")
    current: bool = Field(description="The token this call came with.")


class TokensReply(Paged):
    tokens: list[TokenInfoReply]


class RevokedReply(Reply):
    revoked: int


class CredentialReply(Reply):
    id: str
    name: str
    scopes: list[str]
    created_at: datetime | None
    revoked_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="While a rotation overlaps: when the secret before the newest stops."
    )


class CreatedCredentialReply(CredentialReply):
    secret: str = Field(description="Shown once, never again: only its hash is kept.")


class CredentialsReply(Paged):
    credentials: list[CredentialReply]


class SettingsReply(UserReply):
    verification_required: bool
    notice_grade: NoticeGrade
    notice_grade_in_force: NoticeGrade
    hide_shared_groups: bool


class ErasureReply(Reply):
    user: str
    status: str = Field(description="`erasing`, or `none`: done, or never begun.")


class RelationViewReply(Reply):
    other: str
    in_your_contacts: bool
    you_block_them: bool
    removed_you_at: datetime | None


class NoticeReply(Reply):
    id: int
    kind: str
    other: str
    at: datetime | None
    delivered_at: datetime | None
    read: bool
    detail: str | None


class NoticesReply(Paged):
    notices: list[NoticeReply]


class MarkedReply(Reply):
    marked: int


class PostReply(Reply):
    id: int
    author: str
    body: str
    audience: Audience
    tag: str | None
    posted_at: datetime | None


class PostsReply(Paged):
    posts: list[PostReply]


class AuthorPostsReply(PostsReply):
    removed_you_at: datetime | None


class TagsReply(Reply):
    tags: list[str]


class LayerReply(Reply):
    layer: Layer


class DeviceReply(Reply):
    id: str
    name: str
    cursor: int
    registered_at: datetime | None
    acknowledged_at: datetime | None


class DevicesReply(Paged):
    devices: list[DeviceReply]


class MessageReply(Reply):
    id: int
    sender: str
    body: str
    sent_at: datetime | None
    client_msg_id: str | None = Field(description="The sender's own id for it, if they gave one.")


class ChangeReply(Reply):
    seq: int
    kind: str
    at: datetime
    other: str | None
    conversation: int | None
    message: MessageReply | None = Field(None, description="With kind `message`.")
    purge_at: str | None = Field(None, description="With kind `history_buffered`.")


class ChangesReply(Reply):
    changes: list[ChangeReply]
    next_cursor: int
    more: bool


class UnbindCaseReply(Reply):
    id: int
    user_id: str = Field(description="Who must unbind their assets on the platform.")
    platform_id: str
    seq: int = Field(description="The event's (`webhook-id` evt_SEQ) that opened the case.")
    type: str = Field(description="`history.buffered`, `history.purged` or `account.erased`.")
    opened_at: datetime
    done_at: datetime | None = Field(description="When the platform said done; null while open.")


class UnbindCasesReply(Paged):
    cases: list[UnbindCaseReply]


class ResidueReply(Reply):
    other: str
    conversation: int
    state: HistoryState
    purge_at: datetime | None
    key_destroyed_at: datetime | None
    rows_purged_at: datetime | None
    devices_with_copies: list[str]
    platforms_pending: list[str] = Field(
        description="Platforms you linked that have not acknowledged purging this pair's data."
    )
    legal_hold: bool = Field(
        description="A legal hold keeps this history, encrypted, past its purge (or after a"
        " block-then-delete or an erasure): it is not gone until the hold ends."
    )
    hold_reasons: list[HoldReasonReply] = Field(
        description="Each hold's reason and case, where the deployment discloses them."
    )

    unbind_cases: list[UnbindCaseReply] = Field(
        description="Open cases of assets you must unbind by hand on a `manual_unbind` platform"
        " you linked, each until that platform says it is done."
    )


class HoldReasonReply(Reply):
    reason: str
    case_ref: str


class LegalHoldReply(Reply):
    id: str
    scope: str = Field(description="`user` or `pair`.")
    user: str
    other: str | None
    reason: str
    case_ref: str
    placed_at: datetime | None
    expires_at: datetime | None
    ended_at: datetime | None
    ended_how: str | None = Field(description="`released`, `expired`, or none: in force.")


class LegalHoldsReply(Paged):
    holds: list[LegalHoldReply]


class ResiduesReply(Reply):
    histories: list[ResidueReply]


class GroupReply(Reply):
    id: int
    name: str
    owner: str
    members: int
    created_at: datetime | None


class GroupsReply(Paged):
    groups: list[GroupReply]


class AccountReply(Reply):
    id: str
    name: str
    created_at: datetime
    fans: int
    admins: int


class BindingReply(Reply):
    id: str
    since: datetime


class FansReply(Paged):
    fans: list[BindingReply]


class AdminsReply(Paged):
    admins: list[BindingReply]


class MemberReply(Reply):
    id: str
    joined_at: datetime | None


class MembersReply(Paged):
    members: list[MemberReply]


class GroupInvitationReply(Reply):
    group: int
    group_name: str
    from_: str = Field(alias="from")
    invited_at: datetime | None


class GroupInvitationsReply(Paged):
    invitations: list[GroupInvitationReply]


class SharedGroupsReply(Reply):
    other: str
    groups: list[GroupReply]
    removed_you_at: datetime | None


class ProposalReply(Reply):
    from_: str = Field(alias="from")
    to: str
    message: str
    remove_anyway: bool
    status: str
    proposed_at: datetime | None
    expires_at: datetime | None


class ProposalsReply(Paged):
    proposals: list[ProposalReply]


class DeclinedReply(Reply):
    status: str
    removed_anyway: bool


class RequestReply(Reply):
    from_: str = Field(alias="from")
    to: str
    message: str
    status: str
    sent_at: datetime | None
    expires_at: datetime | None


class RequestsReply(Paged):
    requests: list[RequestReply]


class ContactReply(Reply):
    id: str
    display_name: str
    added_at: datetime | None


class ContactsReply(Paged):
    contacts: list[ContactReply]


class BlockAndDeleteReply(Reply):
    status: str
    newly_blocked: bool
    removed_from_contacts: bool
    history_purged: bool


class BlocksReply(Paged):
    blocks: list[str]


class ChatReply(Reply):
    with_: str = Field(alias="with")
    last_message_at: datetime | None


class ConversationsReply(Paged):
    conversations: list[ChatReply]


class HistoryReply(Paged):
    state: HistoryState | None
    read_only: bool
    purge_at: datetime | None
    messages: list[MessageReply]


class PairStatusReply(Reply):
    a: str
    b: str
    relation: str
    a_blocks_b: bool
    b_blocks_a: bool
    history_state: HistoryState | None
    purge_at: datetime | None
    block_deleted: bool


class RelationCheckReply(Reply):
    results: list[PairStatusReply]


class ConversationInspection(Reply):
    id: int
    state: HistoryState
    created_at: datetime | None
    purge_at: datetime | None
    key_present: bool
    key_destroyed_at: datetime | None
    rows_purged_at: datetime | None


class PairInspectionReply(PairStatusReply):
    conversation: ConversationInspection | None


class SweepReply(Reply):
    requests_expired: int
    proposals_expired: int
    keys_destroyed: int
    rows_deleted: int
    conversations_finished: int
    changes_pruned: int
    idempotency_keys_pruned: int
    erasures_finished: int
    approvals_due: int
    handovers_ended: int
    purges_deferred: int = Field(description="Due histories a legal hold kept from purge.")
    holds_expired: int = Field(description="Legal holds ended by their expiry.")


class AuditEntryReply(Reply):
    seq: int
    at: datetime | None
    actor: str | None
    action: str
    a: str
    b: str
    relation: str
    history_state: HistoryState | None
    detail: str | None
    credential: str | None = Field(
        description="The service credential the write came through, if one did."
    )


class AuditReply(Paged):
    entries: list[AuditEntryReply]


class ClockReply(Reply):
    now: datetime | None


class AbuseSubject(Reply):
    kind: str = Field(description="`token`, `address` or `admin`.")
    subject: str
    user: str | None
    requests: int
    refused: int
    rate_limited: int
    refused_ratio: float


class AbuseReply(Reply):
    window_seconds: int
    shared: bool
    subjects: list[AbuseSubject]


class CleanupBatchSummary(Reply):
    id: int
    created_at: datetime | None
    undo_until: datetime | None
    undone_at: datetime | None
    removed: int = Field(description="How many contacts the batch removed.")


class ExportReply(BaseModel):
    """The archive of an export: each part has the shape its own endpoint answers with."""

    format: str
    exported_at: datetime | None
    user: SettingsReply
    contacts: list[dict[str, Any]]
    blocks: list[str]
    requests: dict[str, list[RequestReply]]
    histories: list[dict[str, Any]]
    notices: list[NoticeReply]
    mutual_delete_proposals: dict[str, list[ProposalReply]]
    posts: list[PostReply]
    groups: list[GroupReply]
    devices: list[DeviceReply]
    audit: list[dict[str, Any]]
    cleanup_batches: list[CleanupBatchSummary]


class HealthReply(Reply):
    status: str


class ReadyReply(Reply):
    status: str
    checks: dict[str, str]


class WebhookEndpointReply(Reply):
    id: str
    url: str
    event_types: list[str]
    created_at: datetime
    failure_run: int = Field(description="Failed attempts in a row (0 after a success).")
    disabled_at: datetime | None = Field(description="Set while the endpoint is disabled.")
    disabled_reason: str | None = Field(
        description="Why: a run of failures (`HUSHAN_WEBHOOK_DISABLE_AFTER_FAILURES`), or the"
        " operator."
    )


class CreatedWebhookEndpointReply(WebhookEndpointReply):
    secret: str = Field(description="`whsec_...`: verifies the endpoint's deliveries.")


class WebhookEndpointsReply(Reply):
    endpoints: list[WebhookEndpointReply]


class WebhookSecretReply(Reply):
    secret: str = Field(description="The new secret; the ones before sign until the overlap ends.")


class WebhookDeliveryReply(Reply):
    id: int
    endpoint_id: str
    seq: int = Field(description="The audit entry's `seq`, also the event's: `webhook-id` evt_SEQ.")
    state: str = Field(description="`pending`, `delivered`, or `failed` (a dead letter).")
    attempts: int
    next_at: datetime = Field(description="While pending: when the next attempt is due.")
    last_status: int | None = Field(description="The last attempt's HTTP status, if it got one.")
    last_error: str | None = Field(description="The last attempt's error, if it got no answer.")
    last_attempt_at: datetime | None
    created_at: datetime
    done_at: datetime | None


class WebhookDeliveriesReply(Paged):
    deliveries: list[WebhookDeliveryReply]


class WebhookAlertReply(Reply):
    id: int
    endpoint_id: str
    at: datetime = Field(description="When the worker disabled the endpoint.")
    reason: str = Field(description="Why: the run of failed attempts.")
    last_status: int | None = Field(description="The last attempt's HTTP status, if it got one.")
    last_error: str | None = Field(description="The last attempt's error, if it got no answer.")
    closed_at: datetime | None = Field(
        description="When the endpoint was enabled again (or removed); null while open."
    )


class WebhookAlertsReply(Paged):
    alerts: list[WebhookAlertReply]


class ReplayedReply(Reply):
    replayed: int


class PlatformReply(Reply):
    id: str
    name: str
    endpoint_id: str = Field(description="Its webhook endpoint (GET /v1/admin/webhooks/...).")
    asset_policy: str = Field(description="`manual_unbind`, `auto_inherit` or `none`.")
    permission_policy: str = Field(description="`keep`, `restrict` or `revoke` on removal.")
    created_at: datetime


class CreatedPlatformReply(PlatformReply):
    secret: str = Field(description="`whsec_...`: verifies the platform's deliveries.")


class PlatformsReply(Reply):
    platforms: list[PlatformReply]


class SyncRateReply(Reply):
    platform_id: str
    window_seconds: int
    emitted: int = Field(description="Events sent to the platform whose change is in the window.")
    acknowledged: int
    rate: float | None = Field(description="acknowledged / emitted; null when none was emitted.")
    lag_p50_seconds: float | None = Field(description="From the change to its acknowledgement.")
    lag_p99_seconds: float | None
    comparison_rate: float = Field(
        description="0.63: what the source article measured for other platforms' sync with"
        " WeChat deletions, to set `rate` beside."
    )


class CreatedMiniProgramReply(Reply):
    id: str
    name: str
    endpoint_id: str = Field(description="Its webhook endpoint (GET /v1/admin/webhooks/...).")
    created_at: datetime
    secret: str = Field(description="`whsec_...`: verifies its `grant.revoked` deliveries.")


class OpenIdReply(Reply):
    app_id: str
    open_id: str = Field(description="The user as this app sees them; the same in every call.")


class PairIdReply(Reply):
    app_id: str
    pair_id: str = Field(
        description="The contact as this app sees them through your grant, until a mutual"
        " delete or block-then-delete revokes it."
    )


# ---- organisations -------------------------------------------------------------------------
class OrgReply(Reply):
    id: str
    name: str
    created_at: datetime


class OrgAdminReply(Reply):
    id: str
    role: str
    since: datetime


class OrgAdminsReply(Reply):
    admins: list[OrgAdminReply]


class DirectoryEntryReply(Reply):
    id: str
    work_id: str
    since: datetime


class DirectoryReply(Paged):
    members: list[DirectoryEntryReply]


class ApprovalReply(Reply):
    id: int
    org: str
    pair: list[str]
    state: str
    opened_at: datetime
    due_at: datetime
    decided_at: datetime | None
    decided_by: str | None


class ApprovalsReply(Paged):
    approvals: list[ApprovalReply]


class HandoverItemReply(Reply):
    customer: str
    successor: str
    open_conversation: bool
    state: str
    decided_at: datetime | None


class HandoverReportReply(Reply):
    moved: list[str]
    declined: list[str]
    unanswered: list[str]
    waiting: list[str]


class HandoverReply(Reply):
    id: int
    org: str
    member: str
    started_by: str
    started_at: datetime
    ends_at: datetime
    ended_at: datetime | None
    items: list[HandoverItemReply]
    report: HandoverReportReply


class HandoversReply(Paged):
    handovers: list[HandoverReply]


class RemovedReply(Reply):
    removed: int


class CandidateReply(Reply):
    id: str
    display_name: str
    added_at: datetime | None
    last_message_at: datetime | None = Field(description="null: no message in your history.")
    tags: list[str]
    layer: Layer


class CandidatesReply(Paged):
    candidates: list[CandidateReply]


class RemovalPlanReply(Reply):
    """What removing the contact does, as far as you may know (docs/api.md, Cleanup)."""

    parting: Parting
    history_after: HistoryState | None
    purge_at: datetime | None
    restorable: bool
    restorable_until: datetime | None
    undo_until: datetime | None
    told: Told


class CleanupItemReply(Reply):
    other: str
    status: ItemStatus
    plan: RemovalPlanReply | None


class CleanupPreviewReply(Reply):
    contacts: list[CleanupItemReply]


class CleanupBatchReply(Reply):
    id: int
    undo_until: datetime
    contacts: list[CleanupItemReply]


class CleanupBatchesReply(Paged):
    batches: list[CleanupBatchSummary]


class UndoItemReply(Reply):
    other: str
    status: UndoOutcome
    reason: NotRestorable | None
    told: Told | None


class CleanupUndoReply(Reply):
    id: int
    contacts: list[UndoItemReply]
