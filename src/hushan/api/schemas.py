"""Request and reply bodies of the HTTP API, and the functions that shape domain values."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from hushan.domain.errors import InvalidUserId
from hushan.domain.groups import Group, GroupInvitation
from hushan.domain.model import AuditEntry, FriendRequest, Message, PairStatus, User
from hushan.domain.notices import Notice, NoticeGrade, effective_grade
from hushan.domain.posts import Audience, Layer, Post
from hushan.domain.proposals import Proposal
from hushan.domain.rules import USER_ID_PATTERN, is_text, is_user_id
from hushan.domain.sync import Change, ChangeKind, ChangesPage, Device
from hushan.service import AccountExport, History, PairInspection, RelationView, Residue
from hushan.store.base import ChatRow, ContactRow
from hushan.tlog.certificate import LegalBasis

# Both databases keep integers as signed 64-bit: a larger one names no row, and SQLite's driver
# fails on it instead of finding nothing. Every integer the API takes is one of these two.
MAX_INT64 = 2**63 - 1
Cursor = Annotated[int, Field(ge=0, le=MAX_INT64)]
"""A position in a sequence (notices, messages, the audit log, a device's feed): 0 is the start."""
RowId = Annotated[int, Field(ge=1, le=MAX_INT64)]
"""The id of a stored row (a post, a group) or a size counted from 1."""


def _user_id(value: str) -> str:
    if not is_user_id(value):
        # The error's type is the reply's code (hushan.api.errors).
        raise PydanticCustomError(InvalidUserId.code, InvalidUserId.default_message)
    return value


def _text(value: str) -> str:
    if not is_text(value):
        raise PydanticCustomError("invalid_text", "NUL characters and lone surrogates are refused.")
    return value


UserId = Annotated[
    str,
    AfterValidator(_user_id),
    WithJsonSchema({"type": "string", "pattern": f"^{USER_ID_PATTERN}$"}),
]
"""A user id wherever the API takes one, in a path or a body: `invalid_user_id` otherwise."""
Text = Annotated[str, AfterValidator(_text)]
"""Free text someone writes: any Unicode but NUL and lone surrogates (`invalid_text`)."""


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateUser(Body):
    id: UserId = Field(description="Stable id chosen by the app: 1-64 of [A-Za-z0-9_.-].")
    display_name: Text | None = Field(None, max_length=128)
    verification_required: bool = Field(True, description="Friend verification (朋友验证).")


class Settings(Body):
    """Any of the user's own settings; those left out keep their value."""

    verification_required: bool | None = Field(None, description="Friend verification (朋友验证).")
    notice_grade: NoticeGrade | None = Field(
        None,
        description="How your removals of others are disclosed to them: silent, on_contact,"
        " notify (not below the deployment's minimum).",
    )
    hide_shared_groups: bool | None = Field(
        None,
        description="Hide the groups you share with people who removed you or whom you removed"
        " (never where that would tell them of a silent removal).",
    )


class ProposeMutualDelete(Body):
    to: UserId
    message: Text = Field("", description="Shown to the other side with the proposal.")
    remove_anyway: bool = Field(
        False, description="If they decline or let it expire, remove them from your side anyway."
    )


class CreatePost(Body):
    body: Text
    audience: Audience = Field(
        Audience.ALL, description="all; except: all but hidden_from; tag: who has the tag."
    )
    hidden_from: list[UserId] = Field(
        default_factory=list, max_length=10_000, description="With audience except."
    )
    tag: str | None = Field(None, description="With audience tag: who you gave this tag sees it.")


class CreateGroup(Body):
    name: str = Field(description="1-64 printable characters.")


class InviteToGroup(Body):
    user: UserId = Field(description="A contact of yours.")


class RegisterDevice(Body):
    name: str = Field(description="1-64 printable characters, e.g. 'phone'.")


class Acknowledge(Body):
    cursor: int = Field(description="The last seq this device has applied.")


class SetLayer(Body):
    layer: Layer = Field(description="full, or chat_only: can message you, cannot see posts.")


class MarkNoticesRead(Body):
    up_to: Cursor = Field(description="Mark your unread notices with ids up to this one read.")


class SendRequest(Body):
    to: UserId
    message: Text = Field("", description="Verification message shown to the recipient.")


class SendMessage(Body):
    to: UserId
    body: Text


class PairIn(Body):
    a: UserId
    b: UserId


class RelationCheck(Body):
    pairs: list[PairIn]


class CertificateRequest(Body):
    other: UserId
    legal_basis: LegalBasis = LegalBasis.USER_REQUEST
    disclose: bool = Field(False, description="Name both users (with the pair's salt).")
    earlier_size: RowId | None = Field(
        None, description="Also prove consistency from a checkpoint of this size you kept."
    )


class AdvanceClock(Body):
    seconds: float = Field(gt=0, le=10 * 365 * 86400)


class StatusReply(BaseModel):
    status: str


class UserReply(BaseModel):
    id: str
    display_name: str


class CreatedUserReply(BaseModel):
    user: UserReply
    verification_required: bool
    token: str


class TokenReply(BaseModel):
    token: str


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def user_json(user: User) -> dict[str, Any]:
    # The public profile: never anything about the viewer's or anyone's relationship.
    return {"id": user.id, "display_name": user.display_name}


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
    }


def history_json(history: History) -> dict[str, Any]:
    return {
        "state": None if history.state is None else history.state.value,
        "read_only": history.read_only,
        "purge_at": iso(history.purge_at),
        "messages": [message_json(m) for m in history.messages],
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
