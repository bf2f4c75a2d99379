"""Request bodies and the typed values (ids, cursors, text, names) the HTTP API takes.

Every constraint the server enforces on a value is in its JSON schema too, so that the OpenAPI
document refuses what the server refuses: the patterns below are the domain's rules
(hushan.domain.rules) written as regular expressions, with every character spelled as an ASCII
escape so that Python's and ECMAScript's regex engines read them alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from hushan.domain.credentials import Scope
from hushan.domain.errors import InvalidUserId
from hushan.domain.events import EventType
from hushan.domain.holds import CASE_REF_PATTERN
from hushan.domain.notices import NoticeGrade
from hushan.domain.orgs import AdminRole
from hushan.domain.platforms import AssetPolicy, PermissionPolicy
from hushan.domain.posts import Audience, Layer
from hushan.domain.rules import USER_ID_PATTERN, is_text, is_user_id
from hushan.domain.webhooks import MAX_URL_CHARS, URL_PATTERN
from hushan.tlog.certificate import LegalBasis

# Both databases keep integers as signed 64-bit: a larger one names no row, and SQLite's driver
# fails on it instead of finding nothing. Every integer the API takes is one of these two.
MAX_INT64 = 2**63 - 1
Cursor = Annotated[int, Field(ge=0, le=MAX_INT64)]
"""A position in a sequence (notices, messages, the audit log, a device's feed): 0 is the start."""
RowId = Annotated[int, Field(ge=1, le=MAX_INT64)]
"""The id of a stored row (a post, a group) or a size counted from 1."""


def _escaped(chars: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in chars)


# What no database stores (NUL), what is not printable (C0 controls, DEL) and what str.strip()
# takes off (Python's whitespace, which is not ECMAScript's \s). Lone surrogates are refused
# too, but left out of the patterns: a range of them makes schemathesis drop the pattern, and
# no JSON encoder sends one but as a `\ud800` escape.
_UNSTORABLE = "\\u0000"
_CONTROL = "\\u0000-\\u001f\\u007f"
_SPACE = _escaped("".join(c for c in map(chr, range(0x10000)) if c.isspace()))
TEXT_PATTERN = f"^[^{_UNSTORABLE}]*$"
NON_BLANK_PATTERN = f"^[^{_UNSTORABLE}]*[^{_UNSTORABLE}{_SPACE}][^{_UNSTORABLE}]*$"
LABEL_PATTERN = f"^[^{_CONTROL}{_SPACE}](?:[^{_CONTROL}]*[^{_CONTROL}{_SPACE}])?$"


def label_schema(max_chars: int) -> dict[str, Any]:
    """A name someone gives a thing (hushan.domain.rules.is_label); checked by the engine,
    which answers with the thing's own code (`invalid_tag`, `invalid_group_name`, ...)."""
    return {"type": "string", "minLength": 1, "maxLength": max_chars, "pattern": LABEL_PATTERN}


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
UserIdPath = Annotated[UserId, Path()]
Text = Annotated[
    str, AfterValidator(_text), WithJsonSchema({"type": "string", "pattern": TEXT_PATTERN})
]
"""Free text someone writes: any Unicode but NUL and lone surrogates (`invalid_text`)."""
MessageBody = Annotated[
    str, AfterValidator(_text), WithJsonSchema({"type": "string", "pattern": NON_BLANK_PATTERN})
]
"""A message or post body: text that is not blank (`message_empty`); its longest is the
deployment's (hushan.api.openapi)."""
Tag = Annotated[str, WithJsonSchema(label_schema(32))]
Name = Annotated[str, WithJsonSchema(label_schema(64))]
CURSOR_SCHEMA = {"type": "integer", "minimum": 0, "maximum": MAX_INT64}


def _json_integer(value: Any) -> Any:
    # JSON Schema's integer is any number with no fraction (4852.0 too), never `false` or "5".
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# In a body, JSON's types are kept apart, as the schema says: `false` is not 0, 1 not `true`.
Flag = Annotated[bool, Strict()]
JsonInteger = BeforeValidator(_json_integer)
BodyCursor = Annotated[Cursor, JsonInteger]
BodyRowId = Annotated[RowId, JsonInteger]
SeqNumber = Annotated[int, JsonInteger, WithJsonSchema(CURSOR_SCHEMA)]
"""A device's cursor as given to `ack`: the engine answers `cursor_out_of_range` outside its
feed, below 0 and past 2^63-1 included."""


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateUser(Body):
    id: UserId = Field(description="Stable id chosen by the app: 1-64 of [A-Za-z0-9_.-].")
    display_name: Text | None = Field(None, max_length=128)
    verification_required: Flag = Field(True, description="Friend verification (朋友验证).")


class Settings(Body):
    """Any of the user's own settings; those left out keep their value."""

    verification_required: Flag | None = Field(None, description="Friend verification (朋友验证).")
    notice_grade: NoticeGrade | None = Field(
        None,
        description="How your removals of others are disclosed to them: silent, on_contact,"
        " notify (not below the deployment's minimum).",
    )
    hide_shared_groups: Flag | None = Field(
        None,
        description="Hide the groups you share with people who removed you or whom you removed"
        " (never where that would tell them of a silent removal).",
    )
    display_name: Text | None = Field(
        None, min_length=1, max_length=128, description="Your new display name."
    )


class ProposeMutualDelete(Body):
    to: UserId
    message: Text = Field("", description="Shown to the other side with the proposal.")
    remove_anyway: Flag = Field(
        False, description="If they decline or let it expire, remove them from your side anyway."
    )


class CreatePost(Body):
    # The tag counts (and must be a valid one) with audience `tag` alone: said so in the schema.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "if": {"properties": {"audience": {"const": "tag"}}, "required": ["audience"]},
            "then": {"properties": {"tag": label_schema(32)}, "required": ["tag"]},
        },
    )

    body: MessageBody
    audience: Audience = Field(
        Audience.ALL, description="all; except: all but hidden_from; tag: who has the tag."
    )
    hidden_from: list[UserId] = Field(
        default_factory=list, max_length=10_000, description="With audience except."
    )
    tag: str | None = Field(None, description="With audience tag: who you gave this tag sees it.")


class CreateGroup(Body):
    name: Name = Field(description="1-64 printable characters, not padded.")


class CreateAccount(Body):
    id: UserId = Field(description="The account's id: 1-64 of [A-Za-z0-9_.-].")
    name: Name = Field(description="1-64 printable characters, not padded.")


class InviteToGroup(Body):
    user: UserId = Field(description="A contact of yours.")


class RegisterDevice(Body):
    name: Name = Field(description="1-64 printable characters, not padded, e.g. 'phone'.")


class Acknowledge(Body):
    cursor: SeqNumber = Field(description="The last seq this device has applied.")


class SetLayer(Body):
    layer: Layer = Field(description="full, or chat_only: can message you, cannot see posts.")


class MarkNoticesRead(Body):
    up_to: BodyCursor = Field(description="Mark your unread notices with ids up to this one read.")


class SendRequest(Body):
    to: UserId
    message: Text = Field("", description="Verification message shown to the recipient.")


CLIENT_MSG_ID_PATTERN = "^[\\u0021-\\u007e]{1,64}$"  # visible ASCII, as an idempotency key


class SendMessage(Body):
    to: UserId
    body: MessageBody
    client_msg_id: str | None = Field(
        None,
        pattern=CLIENT_MSG_ID_PATTERN,
        description="The sender's own id for the message, unique per sender: a second send"
        " with it stores nothing and answers `200` with the first message.",
    )


class PairIn(Body):
    a: UserId
    b: UserId


class RelationCheck(Body):
    pairs: list[PairIn]


class CleanupContacts(Body):
    contacts: list[UserId] = Field(
        min_length=1,
        description="Contacts to preview or remove, each once; at most the deployment's"
        " `HUSHAN_CLEANUP_MAX_BATCH` (`422 too_many_contacts`, `422 duplicate_contacts`).",
    )


class CertificateRequest(Body):
    other: UserId
    legal_basis: LegalBasis = LegalBasis.USER_REQUEST
    disclose: Flag = Field(False, description="Name both users (with the pair's salt).")
    earlier_size: BodyRowId | None = Field(
        None, description="Also prove consistency from a checkpoint of this size you kept."
    )


# ---- legal holds (hushan.domain.holds) ------------------------------------------------------
HoldId = Annotated[str, Path(max_length=64)]


HoldReason = Annotated[str, WithJsonSchema(label_schema(500))]
"""Why a hold is placed (1-500 printable characters): kept for the admins, told to the users
only where the deployment allows (`HUSHAN_HOLD_DISCLOSE_REASON`); `invalid_hold_reason`."""
CaseRef = Annotated[str, WithJsonSchema({"type": "string", "pattern": f"^{CASE_REF_PATTERN}$"})]
"""The case a hold is for: 1-64 of letters, digits and `_.:/#-`; `invalid_case_reference`."""


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is a time before year 1 in UTC
        raise ValueError("the time is out of range once in UTC") from None


UtcTime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""A time with its offset, read as the same moment in UTC."""


class PlaceHold(Body):
    user: UserId
    other: UserId | None = Field(None, description="For a hold on a pair; none for a user.")
    reason: HoldReason
    case_ref: CaseRef
    expires_at: UtcTime | None = Field(
        None, description="When it ends by itself (in the future); none: until released."
    )


class AdvanceClock(Body):
    seconds: float = Field(gt=0, le=10 * 365 * 86400)


# ---- service credentials and user tokens (hushan.domain.credentials) ----------------------
CredentialId = Annotated[str, Path(pattern=r"^c_[0-9a-f]{16}$", max_length=18)]
TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", max_length=16)]
Seconds = Annotated[int, Field(ge=1, le=MAX_INT64), JsonInteger]


class MintToken(Body):
    ttl_seconds: Seconds | None = Field(
        None,
        description="The token's lifetime: 60 s up to the deployment's default"
        " (`HUSHAN_TOKEN_TTL_DAYS`), which is also what it gets without one.",
    )


class CreateCredential(Body):
    name: Name = Field(description="For people: 1-64 characters, unpadded, no controls.")
    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))


class RotateCredential(Body):
    overlap_seconds: Annotated[int, Field(ge=0, le=30 * 86400), JsonInteger] = Field(
        0,
        description="How long the secret before this one keeps working (up to 30 days); 0: it"
        " stops at once.",
    )


EndpointId = Annotated[str, Path(pattern=r"^we_[0-9a-f]{16}$", max_length=19)]


WebhookUrl = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "maxLength": MAX_URL_CHARS, "pattern": f"^(?:{URL_PATTERN})$"}
    ),
]
EventTypeName = Annotated[
    str, WithJsonSchema({"type": "string", "enum": [t.value for t in EventType]})
]
"""Checked by the engine (`unknown_event_type`), so that the CLI's refusal is the API's."""


class CreateWebhookEndpoint(Body):
    url: WebhookUrl = Field(description="Absolute http or https URL it is POSTed to.")
    event_types: list[EventTypeName] = Field(
        min_length=1, max_length=64, description="The event types it gets (docs/webhooks.md)."
    )


class RotateWebhookSecret(Body):
    overlap_seconds: Annotated[int, Field(ge=0, le=30 * 86400), JsonInteger] = Field(
        86400,
        description="How long the secrets before this one still sign (up to 30 days; default a"
        " day): each delivery carries a signature per live secret.",
    )


class ReplayWebhookFailures(Body):
    since: UtcTime = Field(
        description="Every delivery that failed for good at or after this (with its offset)."
    )
    endpoint_id: str | None = Field(None, pattern=r"^we_[0-9a-f]{16}$", max_length=19)


PlatformId = Annotated[str, Path(pattern=r"^pf_[0-9a-f]{16}$", max_length=19)]
MiniProgramId = Annotated[str, Path(pattern=r"^mp_[0-9a-f]{16}$", max_length=19)]
PairIdPath = Annotated[
    str, Path(pattern=r"^p[A-Za-z0-9_-]{24}$", max_length=25, description="A pair-scoped id.")
]


class CreatePlatform(Body):
    name: Name = Field(description="For people: 1-64 characters, unpadded, no controls.")
    url: WebhookUrl = Field(description="Its webhook endpoint: absolute http or https URL.")
    asset_policy: AssetPolicy = Field(description="What becomes of linked assets on removal.")
    permission_policy: PermissionPolicy = Field(
        description="What becomes of API permissions on removal."
    )


class CreateMiniProgram(Body):
    name: Name = Field(description="For people: 1-64 characters, unpadded, no controls.")
    url: WebhookUrl = Field(description="Its webhook endpoint, for its `grant.revoked` events.")


class GrantFriend(Body):
    friend_id: UserId = Field(description="The contact the app may see (in your contacts).")


# ---- organisations (hushan.domain.orgs) ---------------------------------------------------
class CreateOrg(Body):
    id: UserId = Field(description="The organisation's id: 1-64 of [A-Za-z0-9_.-].")
    name: Name = Field(description="1-64 printable characters, not padded.")
    admin: UserId = Field(description="Its first administrator (role `admin`).")


class SetOrgAdmin(Body):
    role: AdminRole = Field(
        AdminRole.ADMIN, description="`admin`, or `escalation`: who decides escalated approvals."
    )


class AddOrgMember(Body):
    work_id: UserId = Field(description="The member's work identity, unique in the organisation.")


class StartHandover(Body):
    member: UserId = Field(description="The departing member.")
    successors: list[UserId] = Field(
        min_length=1, max_length=100, description="Members who take the customers over, in turn."
    )
