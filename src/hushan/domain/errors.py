"""Every error hushan raises on purpose, each with a stable code.

    HushanError                      code, message; nothing about HTTP
    ├── NotFound                     a named thing does not exist
    │   ├── UserNotFound             user_not_found
    │   ├── RequestNotFound          request_not_found
    │   ├── NothingToCertify         nothing_to_certify
    │   ├── ProposalNotFound         proposal_not_found
    │   ├── GroupNotFound            group_not_found
    │   ├── GroupInvitationNotFound  group_invitation_not_found
    │   ├── DeviceNotFound           device_not_found
    │   ├── CredentialNotFound       credential_not_found
    │   ├── TokenNotFound            token_not_found
    │   ├── AccountNotFound          account_not_found
    │   ├── EndpointNotFound         webhook_endpoint_not_found
    │   ├── DeliveryNotFound         webhook_delivery_not_found
    │   ├── PlatformNotFound         platform_not_found
    │   ├── MiniProgramNotFound      mini_program_not_found
    │   ├── LogEmpty                 log_empty
    │   ├── OrgNotFound              org_not_found
    │   ├── ApprovalNotFound         approval_not_found
    │   ├── HandoverNotFound         handover_not_found
    │   ├── HoldNotFound             legal_hold_not_found
    │   ├── CleanupBatchNotFound     cleanup_batch_not_found
    │   └── NotOrgMember             not_org_member
    ├── InvalidInput                 the call itself is wrong, whatever the state
    │   ├── InvalidUserId            invalid_user_id
    │   ├── CannotBefriendSelf       cannot_befriend_self
    │   ├── CannotCertifySelf        cannot_certify_self
    │   ├── EarlierSizeOutOfRange    earlier_size_out_of_range
    │   ├── ImportLineInvalid        import_line_invalid
    │   ├── InvalidTag               invalid_tag
    │   ├── InvalidGroupName         invalid_group_name
    │   ├── InvalidAccountName       invalid_account_name
    │   ├── CursorOutOfRange         cursor_out_of_range
    │   ├── InvalidCursor            invalid_cursor
    │   ├── UnknownQueryParameter    unknown_query_parameter
    │   ├── InvalidDeviceName        invalid_device_name
    │   ├── InvalidCredentialName    invalid_credential_name
    │   ├── InvalidTokenTtl          invalid_token_ttl
    │   ├── InvalidWebhookUrl        invalid_webhook_url
    │   ├── UnknownEventType         unknown_event_type
    │   ├── InvalidPlatformName      invalid_platform_name
    │   ├── InvalidHoldReason        invalid_hold_reason
    │   ├── InvalidCaseReference     invalid_case_reference
    │   ├── InvalidHoldExpiry        invalid_hold_expiry
    │   ├── HoldPairOfOneUser        hold_pair_of_one_user
    │   ├── NoCurrentToken           no_current_token
    │   ├── NoticeGradeBelowMinimum  notice_grade_below_minimum
    │   ├── MessageEmpty             message_empty
    │   ├── MessageTooLong           message_too_long
    │   ├── VerificationTooLong      verification_message_too_long
    │   ├── TooManyPairs             too_many_pairs
    │   ├── TooManyContacts          too_many_contacts
    │   ├── DuplicateContacts        duplicate_contacts
    │   ├── InvalidIdempotencyKey    invalid_idempotency_key
    │   ├── IdempotencyKeyReused     idempotency_key_reused
    │   ├── InvalidOrgName           invalid_org_name
    │   ├── InvalidHandover          invalid_handover
    │   └── ConfirmationMismatch     confirmation_mismatch
    ├── Refused                      the relationship state forbids it (Rules 1–3)
    │   ├── RecipientRemovedYou      recipient_removed_you
    │   ├── NotInYourContacts        not_in_your_contacts
    │   ├── BlockedByRecipient       blocked_by_recipient
    │   ├── YouBlockedUser           you_blocked_user
    │   ├── FriendLimitReached       friend_limit_reached
    │   ├── GroupFull                group_full
    │   ├── DeviceLimitReached       device_limit_reached
    │   ├── NotGroupOwner            not_group_owner
    │   ├── NotAccountAdmin          not_account_admin
    │   ├── FanIsAccountAdmin        fan_is_account_admin
    │   ├── AccountNeedsAdmin        account_needs_admin
    │   ├── NotOrgAdmin              not_org_admin
    │   ├── EscalationRoleRequired   escalation_role_required
    │   ├── HandoverInProgress       handover_in_progress
    │   └── HistoryAlreadyPurged     history_already_purged
    ├── InvalidTransition            invalid_transition: a history move the table forbids
    ├── Conflict
    │   ├── UserExists               user_exists
    │   ├── AccountExists            account_exists
    │   ├── ImportPairTaken          import_pair_taken
    │   ├── ProposalPending          proposal_pending
    │   ├── ErasureInProgress        erasure_in_progress
    │   ├── HoldAlreadyReleased      legal_hold_already_released
    │   ├── IdempotencyKeyInFlight   idempotency_key_in_flight
    │   ├── CursorExpired            cursor_expired
    │   ├── OrgExists                org_exists
    │   ├── WorkIdTaken              work_id_taken
    │   ├── ApprovalAlreadyDecided   approval_already_decided
    │   ├── HandoverAlreadyAnswered  handover_already_answered
    │   ├── UndoWindowPassed         undo_window_passed
    │   └── CleanupAlreadyUndone     cleanup_already_undone
    ├── AuthError                    who is calling is unknown or not allowed
    │   ├── Unauthenticated          unauthenticated
    │   │   └── TokenExpired         token_expired
    │   ├── ActingAsOtherUser        acting_as_other_user
    │   ├── AdminRequired            admin_required
    │   ├── ScopeRequired            scope_required
    │   ├── ScopeNotGrantable        scope_not_grantable
    │   ├── ActAsRequired            act_as_required
    │   ├── AuthorizationRequired    authorization_required
    │   ├── ActAsMismatch            act_as_mismatch
    │   └── CsrfTokenInvalid         csrf_token_invalid
    ├── FeatureDisabled              test_clock_disabled
    └── Unavailable                  not now: nothing was changed; retry after `retry_after` s
        ├── Busy                     busy
        ├── DatabaseUnavailable      database_unavailable
        └── LogBehind                log_behind

The API maps these to statuses (hushan.api.errors) and the CLI to exit codes, each in one table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

__all__ = [
    "AccountExists",
    "AccountNeedsAdmin",
    "AccountNotFound",
    "ActAsMismatch",
    "ActAsRequired",
    "ActingAsOtherUser",
    "AdminRequired",
    "ApprovalAlreadyDecided",
    "ApprovalNotFound",
    "AuthError",
    "AuthorizationRequired",
    "BlockedByRecipient",
    "Busy",
    "CannotBefriendSelf",
    "CannotCertifySelf",
    "CleanupAlreadyUndone",
    "CleanupBatchNotFound",
    "ConfirmationMismatch",
    "Conflict",
    "CredentialNotFound",
    "CsrfTokenInvalid",
    "CursorExpired",
    "CursorOutOfRange",
    "DatabaseUnavailable",
    "DeliveryNotFound",
    "DeviceLimitReached",
    "DeviceNotFound",
    "DuplicateContacts",
    "EarlierSizeOutOfRange",
    "EndpointNotFound",
    "ErasureInProgress",
    "EscalationRoleRequired",
    "FanIsAccountAdmin",
    "FeatureDisabled",
    "FriendLimitReached",
    "GroupFull",
    "GroupInvitationNotFound",
    "GroupNotFound",
    "HandoverAlreadyAnswered",
    "HandoverInProgress",
    "HandoverNotFound",
    "HistoryAlreadyPurged",
    "HoldAlreadyReleased",
    "HoldNotFound",
    "HoldPairOfOneUser",
    "HushanError",
    "InvalidCaseReference",
    "InvalidHoldExpiry",
    "InvalidHoldReason",
    "ImportLineInvalid",
    "ImportPairTaken",
    "InvalidAccountName",
    "InvalidCredentialName",
    "InvalidCursor",
    "InvalidDeviceName",
    "InvalidGroupName",
    "InvalidHandover",
    "InvalidInput",
    "InvalidOrgName",
    "InvalidPlatformName",
    "InvalidTag",
    "InvalidTokenTtl",
    "InvalidTransition",
    "InvalidUserId",
    "InvalidWebhookUrl",
    "LogBehind",
    "LogEmpty",
    "MessageEmpty",
    "MessageTooLong",
    "MiniProgramNotFound",
    "NoCurrentToken",
    "NotAccountAdmin",
    "NotFound",
    "NotGroupOwner",
    "NotInYourContacts",
    "NotOrgAdmin",
    "NotOrgMember",
    "NothingToCertify",
    "NoticeGradeBelowMinimum",
    "OrgExists",
    "OrgNotFound",
    "PlatformNotFound",
    "ProposalNotFound",
    "ProposalPending",
    "RecipientRemovedYou",
    "Refused",
    "RequestNotFound",
    "ScopeNotGrantable",
    "ScopeRequired",
    "TokenExpired",
    "TokenNotFound",
    "TooManyContacts",
    "TooManyPairs",
    "Unauthenticated",
    "Unavailable",
    "UndoWindowPassed",
    "UnknownEventType",
    "UserExists",
    "UserNotFound",
    "VerificationTooLong",
    "WorkIdTaken",
    "YouBlockedUser",
    "all_error_classes",
]


class HushanError(Exception):
    """Base of every deliberate error. `code` is stable: clients branch on it."""

    code: ClassVar[str] = "error"
    default_message: ClassVar[str] = "Something went wrong."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class NotFound(HushanError):
    code = "not_found"
    default_message = "Not found."


class HoldNotFound(NotFound):
    """No legal hold has that id."""

    code = "legal_hold_not_found"
    default_message = "No such legal hold."


class UserNotFound(NotFound):
    """Raised when a named user id does not exist."""

    code = "user_not_found"
    default_message = "No such user."


class RequestNotFound(NotFound):
    """Raised when accepting or rejecting a friend request that is not pending."""

    code = "request_not_found"
    default_message = "No pending friend request from that user."


class NothingToCertify(NotFound):
    """A certificate was asked for a pair with no entry in the transparency log."""

    code = "nothing_to_certify"
    default_message = "The pair has nothing in the log to certify: they never interacted."


class ProposalNotFound(NotFound):
    """No mutual-delete proposal is pending from that user (none was made, or it was decided,
    withdrawn or has expired)."""

    code = "proposal_not_found"
    default_message = "No mutual-delete proposal is pending from that user."


class AccountNotFound(NotFound):
    code = "account_not_found"
    default_message = "No such official account."


class GroupNotFound(NotFound):
    """No such group, or the caller is not a member of it (the two look the same, so a group's
    existence is not told to outsiders)."""

    code = "group_not_found"
    default_message = "No such group among yours."


class GroupInvitationNotFound(NotFound):
    """No invitation to that group is pending for the caller."""

    code = "group_invitation_not_found"
    default_message = "No invitation to that group is pending for you."


class CredentialNotFound(NotFound):
    code = "credential_not_found"
    default_message = "No such service credential."


class TokenNotFound(NotFound):
    code = "token_not_found"
    default_message = "No token of yours has that id."


class EndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"
    default_message = "No such webhook endpoint."


class DeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
    default_message = "No such webhook delivery."


class MiniProgramNotFound(NotFound):
    code = "mini_program_not_found"
    default_message = "No such mini-program."


class PlatformNotFound(NotFound):
    code = "platform_not_found"
    default_message = "No such linked platform."


class UnbindCaseNotFound(NotFound):
    code = "unbind_case_not_found"
    default_message = "No such unbind case of this platform."


class DeviceNotFound(NotFound):
    """No device of the caller's has that id (never registered, or removed)."""

    code = "device_not_found"
    default_message = "No such device of yours."


class LogEmpty(NotFound):
    """The transparency log has no entry yet, so there is no checkpoint to show."""

    code = "log_empty"
    default_message = "The transparency log is empty: no checkpoint has been signed yet."


class InvalidInput(HushanError):
    code = "invalid_input"
    default_message = "The request is not valid."


class InvalidCredentialName(InvalidInput):
    code = "invalid_credential_name"
    default_message = "A credential name is 1-64 characters, unpadded, with no control characters."


class InvalidTokenTtl(InvalidInput):
    code = "invalid_token_ttl"
    default_message = "That token lifetime is out of range."


class InvalidWebhookUrl(InvalidInput):
    code = "invalid_webhook_url"
    default_message = (
        "A webhook endpoint is an absolute http or https URL of at most 2000 characters: a"
        " host name, an IPv4 address or an IPv6 address in brackets, then a port up to 65535"
        " if any."
    )


class InvalidPlatformName(InvalidInput):
    code = "invalid_platform_name"
    default_message = "A platform name is 1-64 characters, unpadded, with no control characters."


class UnknownEventType(InvalidInput):
    code = "unknown_event_type"
    default_message = (
        "An endpoint subscribes to one or more of the event types in docs/webhooks.md."
    )


class NoCurrentToken(InvalidInput):
    """`keep=current` from a caller that holds no token of the user (a service credential)."""

    code = "no_current_token"
    default_message = "Only a user token has a current token to keep."


class InvalidUserId(InvalidInput):
    """Raised when a user id is empty, too long or uses characters outside [A-Za-z0-9_.-]."""

    code = "invalid_user_id"
    default_message = "A user id is 1-64 characters of letters, digits, '_', '.' or '-'."


class InvalidIdempotencyKey(InvalidInput):
    """An `Idempotency-Key` header that is not a key: empty, too long, or not visible ASCII."""

    code = "invalid_idempotency_key"
    default_message = (
        "An Idempotency-Key is 1-255 visible ASCII characters, bare or as a quoted string."
    )


class IdempotencyKeyReused(InvalidInput):
    """The caller's idempotency key was first used with another request (method, path or
    body): nothing was done (the IETF draft's 422)."""

    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was used with a different request."


class ImportLineInvalid(InvalidInput):
    """A line of a bulk import is not an edge: the whole import is refused, nothing written."""

    code = "import_line_invalid"
    default_message = "A line of the import is not `owner,contact` with two distinct user ids."


class NoticeGradeBelowMinimum(InvalidInput):
    """A user chose a notice grade below the one the deployment requires at least."""

    code = "notice_grade_below_minimum"
    default_message = "That notice grade is below this deployment's minimum."


class InvalidTag(InvalidInput):
    """A contact tag is missing, empty, too long or has control characters or edge spaces."""

    code = "invalid_tag"
    default_message = "A tag is 1-32 printable characters with no leading or trailing space."


class InvalidAccountName(InvalidInput):
    code = "invalid_account_name"
    default_message = (
        "An official account's name is 1-64 printable characters with no leading or trailing space."
    )


class InvalidGroupName(InvalidInput):
    """A group name is missing, empty, too long or has control characters or edge spaces."""

    code = "invalid_group_name"
    default_message = "A group name is 1-64 printable characters with no leading or trailing space."


class CursorOutOfRange(InvalidInput):
    """A sync cursor below 0 or past the head of the user's feed."""

    code = "cursor_out_of_range"
    default_message = "The cursor is not a position the feed has reached."


class InvalidCursor(InvalidInput):
    """A list's `cursor` that is not the `next` of a page of that same list."""

    code = "invalid_cursor"
    default_message = (
        "The cursor is not one this list gave out: pass the `next` of its previous page as it"
        " came, or no cursor to start from the beginning."
    )


class UnknownQueryParameter(InvalidInput):
    """A query parameter the endpoint does not take: refused rather than ignored, so that a
    misspelt or outdated one (a list's `after`) is never taken as obeyed."""

    code = "unknown_query_parameter"
    default_message = "The endpoint does not take that query parameter."

    @classmethod
    def of(cls, unknown: Sequence[str], known: Sequence[str]) -> UnknownQueryParameter:
        takes = ", ".join(known) if known else "no query parameters"
        paging = {"after", "before"} & set(unknown)  # how lists paged before the cursor
        hint = " Lists page with `limit` and `cursor` (the `next` of the page before)."
        return cls(
            f"Unknown query parameter {', '.join(unknown)}: this endpoint takes {takes}."
            + (hint if paging else "")
        )


class InvalidDeviceName(InvalidInput):
    """A device name is missing, empty, too long or has control characters or edge spaces."""

    code = "invalid_device_name"
    default_message = (
        "A device name is 1-64 printable characters with no leading or trailing space."
    )


class InvalidHoldReason(InvalidInput):
    code = "invalid_hold_reason"
    default_message = (
        "A legal hold's reason is 1-500 printable characters with no leading or trailing space."
    )


class InvalidCaseReference(InvalidInput):
    code = "invalid_case_reference"
    default_message = (
        "A case reference is 1-64 characters: letters, digits and _ . : / # -,"
        " starting with a letter or digit."
    )


class InvalidHoldExpiry(InvalidInput):
    code = "invalid_hold_expiry"
    default_message = "A legal hold's expiry must be in the future."


class HoldPairOfOneUser(InvalidInput):
    code = "hold_pair_of_one_user"
    default_message = "A hold on a pair names two different users."


class CannotBefriendSelf(InvalidInput):
    """Raised when a user sends a request to, deletes or blocks themselves (Rule 1)."""

    code = "cannot_befriend_self"
    default_message = "You cannot add, remove or block yourself."


class ConfirmationMismatch(InvalidInput):
    """A typed confirmation (the console's account erasure) that is not what was asked for."""

    code = "confirmation_mismatch"
    default_message = "The confirmation typed is not the one asked for: nothing was done."


class CannotCertifySelf(InvalidInput):
    """Raised when a certificate is asked for a pair of one user with themselves."""

    code = "cannot_certify_self"
    default_message = "A certificate is about you and someone else, not you alone."


class EarlierSizeOutOfRange(InvalidInput):
    """Raised when a certificate is asked to link a log size the log has not reached."""

    code = "earlier_size_out_of_range"
    default_message = "The earlier log size must be between 1 and the log's current size."


class MessageEmpty(InvalidInput):
    """Raised when a message body is empty or only whitespace (nothing is stored)."""

    code = "message_empty"
    default_message = "A message needs some text."


class MessageTooLong(InvalidInput):
    """Raised when a message body is over the deployment's limit (nothing is stored)."""

    code = "message_too_long"
    default_message = "The message is too long."


class VerificationTooLong(InvalidInput):
    """Raised when a friend request's verification message is over its limit."""

    code = "verification_message_too_long"
    default_message = "The verification message is too long."


class TooManyPairs(InvalidInput):
    """Raised when a relation check names more pairs than the deployment allows (Rule 8)."""

    code = "too_many_pairs"
    default_message = "Too many pairs in one relation check."


class TooManyContacts(InvalidInput):
    """A cleanup batch (preview, removal) names more contacts than the deployment allows."""

    code = "too_many_contacts"
    default_message = "Too many contacts in one cleanup batch."


class DuplicateContacts(InvalidInput):
    """A cleanup batch names a contact twice: each contact's result must be one answer."""

    code = "duplicate_contacts"
    default_message = "A contact is named more than once in the batch."


class Refused(HushanError):
    code = "refused"
    default_message = "Refused."


class RecipientRemovedYou(Refused):
    """Rule 2: the recipient does not have the sender in their contacts."""

    code = "recipient_removed_you"
    default_message = (
        "对方开启了朋友验证，你还不是他（她）朋友。请先发送朋友验证请求，对方验证通过后，才能聊天。"
        " (The recipient has friend verification on and you are not their friend: send a "
        "friend request first.)"
    )


class NotInYourContacts(Refused):
    """Rule 2: the sender does not have the recipient in their own contacts."""

    code = "not_in_your_contacts"
    default_message = "This user is not in your contacts: add them first."


class BlockedByRecipient(Refused):
    """Rule 2: the recipient blocks the sender. The sender learns only that it was refused."""

    code = "blocked_by_recipient"
    default_message = (
        "消息已发出，但被对方拒收了。 (The message was sent but the recipient refused it.)"
    )


class YouBlockedUser(Refused):
    """The actor blocks the other user; they must unblock before messaging or adding them."""

    code = "you_blocked_user"
    default_message = "You have blocked this user: unblock them first."


class FriendLimitReached(Refused):
    """Rule 1: adding the edge would take a user over the friend limit."""

    code = "friend_limit_reached"
    default_message = "The friend limit has been reached."


class GroupFull(Refused):
    """The group already has the deployment's most members."""

    code = "group_full"
    default_message = "The group is full."


class DeviceLimitReached(Refused):
    """The user already has the deployment's most devices: remove one first."""

    code = "device_limit_reached"
    default_message = "You have the most devices allowed; remove one first."


class NotGroupOwner(Refused):
    """Only the group's owner may remove someone else from it."""

    code = "not_group_owner"
    default_message = "Only the group's owner can remove other members; anyone can leave."


class NotAccountAdmin(Refused):
    """Only an official account's administrators manage its fans and administrators."""

    code = "not_account_admin"
    default_message = (
        "Only an administrator of the official account can manage its fans and administrators."
        " (只有公众号管理员可以管理粉丝和管理员。)"
    )


class FanIsAccountAdmin(Refused):
    """A fan bound as an administrator of the account cannot be removed by it (design,
    "Official accounts"): the message says how to unbind them, and who may."""

    code = "fan_is_account_admin"
    default_message = (
        "This fan is bound as an administrator of the official account: unbind them first"
        " (DELETE …/official-accounts/{account}/admins/{fan}). (该粉丝已绑定为公众号管理员，"
        "请先解除管理员绑定。)"
    )

    @classmethod
    def of(cls, account: str, actor: str, fan: str) -> FanIsAccountAdmin:
        return cls(
            f"{fan} is bound as an administrator of official account {account}, so cannot be"
            f" removed as a fan. Unbind them first: DELETE /v1/users/{actor}/official-accounts/"
            f"{account}/admins/{fan}. Any administrator of the account may unbind them, or {fan}"
            " may unbind themselves, as long as another administrator remains."
            " (该粉丝已绑定为公众号管理员，请先解除管理员绑定。)"
        )


class AccountNeedsAdmin(Refused):
    """An official account always has someone who can run it."""

    code = "account_needs_admin"
    default_message = (
        "This is the official account's last administrator: bind another administrator first"
        " (PUT …/admins/{user}), so that someone can still run it."
    )


class HistoryAlreadyPurged(Refused):
    """A hold on a pair whose history was already purged: there is nothing left to keep."""

    code = "history_already_purged"
    default_message = (
        "The pair's history was already purged (its key destroyed): a hold can keep nothing."
    )


class InvalidTransition(HushanError):
    """A history-state move that the transition table does not allow (a bug if it escapes)."""

    code = "invalid_transition"
    default_message = "That change of history state is not allowed."


class Conflict(HushanError):
    code = "conflict"
    default_message = "Conflict."


class IdempotencyKeyInFlight(Conflict):
    """A request with the caller's idempotency key is still being served: retry it later,
    unchanged, to get its reply (the IETF draft's 409)."""

    code = "idempotency_key_in_flight"
    default_message = "A request with this Idempotency-Key is still in flight; retry it later."


class AccountExists(Conflict):
    code = "account_exists"
    default_message = "An official account with that id already exists."


class UserExists(Conflict):
    """Raised when creating a user whose id is taken."""

    code = "user_exists"
    default_message = "A user with that id already exists."


class ImportPairTaken(Conflict):
    """A bulk import names a pair hushan already holds something of: the import only loads
    pairs it holds nothing of, so it never rewrites a relationship it is keeping."""

    code = "import_pair_taken"
    default_message = "The import names a pair hushan already holds; nothing was imported."


class ProposalPending(Conflict):
    """A mutual-delete proposal is already pending between the two users, either way."""

    code = "proposal_pending"
    default_message = "A mutual-delete proposal between you is already pending."


class HoldAlreadyReleased(Conflict):
    """A legal hold that has already ended (released or expired) cannot be released again."""

    code = "legal_hold_already_released"
    default_message = "This legal hold has already ended (released or expired)."


class ErasureInProgress(Conflict):
    """Another process is erasing this account right now."""

    code = "erasure_in_progress"
    default_message = "This account is already being erased; it will be done shortly."


class CursorExpired(Conflict):
    """The device's cursor is older than what the feed keeps: changes after it were dropped."""

    code = "cursor_expired"
    default_message = (
        "This device was away longer than the sync feed keeps changes: fetch the current"
        " state again (contacts, conversations) and start over from the feed's head."
    )


class AuthError(HushanError):
    code = "auth_error"
    default_message = "Not allowed."


class Unauthenticated(AuthError):
    """No bearer token, or one that matches no user."""

    code = "unauthenticated"
    default_message = "A valid bearer token is required."


class ActingAsOtherUser(AuthError):
    """The token belongs to a different user than the one named in the call."""

    code = "acting_as_other_user"
    default_message = "You can act only as yourself."


class AdminRequired(AuthError):
    """The call needs the deployment's admin key (or a service credential with its scope)."""

    code = "admin_required"
    default_message = "This call needs the admin key or a service credential."


class TokenExpired(Unauthenticated):
    """A user token past its expiry: it authenticates nobody any more."""

    code = "token_expired"
    default_message = "This token has expired: ask the app for a new one."


class ScopeRequired(AuthError):
    """A service credential without the scope the call needs."""

    code = "scope_required"
    default_message = "This credential lacks the scope this call needs."


class ScopeNotGrantable(AuthError):
    """A credential tried to create or give scopes it does not hold itself."""

    code = "scope_not_grantable"
    default_message = "You cannot grant scopes you do not hold."


class CsrfTokenInvalid(AuthError):
    """A console form sent without the page's anti-forgery token, or from another site."""

    code = "csrf_token_invalid"
    default_message = "This form is out of date or came from another site: reload the page."


class ActAsRequired(AuthError):
    """A service credential on a user path without naming the user in Hushan-Act-As."""

    code = "act_as_required"
    default_message = "A service credential names the user it acts for in Hushan-Act-As."


class AuthorizationRequired(AuthError):
    """A mini-program's pair-scoped id whose grant was revoked (a mutual delete or a
    block-then-delete) or never made: the user must authorise the app again."""

    code = "authorization_required"
    default_message = "The user must authorise this mini-program again."


class ActAsMismatch(AuthError):
    """Hushan-Act-As names someone other than the path's user."""

    code = "act_as_mismatch"
    default_message = "Hushan-Act-As must name the user in the path."


class FeatureDisabled(HushanError):
    """The test clock is off in this deployment (HUSHAN_TEST_CLOCK)."""

    code = "test_clock_disabled"
    default_message = "The test clock is disabled in this deployment."


class Unavailable(HushanError):
    """hushan cannot answer now; nothing was changed, and the same call may be retried after
    `retry_after` seconds."""

    code = "unavailable"
    retry_after: ClassVar[int] = 1


class Busy(Unavailable):
    """Too many calls are waiting, or a lock was not had within the busy timeout."""

    code = "busy"
    default_message = "hushan is busy; nothing was changed. Retry after a moment."


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached."""

    code = "database_unavailable"
    default_message = "The database cannot be reached; nothing was changed. Retry later."
    retry_after = 5


class LogBehind(Unavailable):
    """The transparency log is catching up on a backlog larger than a request integrates."""

    code = "log_behind"
    default_message = (
        "The transparency log is catching up on recent changes; ask for the certificate again"
        " in a moment."
    )
    retry_after = 5


# ---- organisations (hushan.domain.orgs) ---------------------------------------------------
class OrgNotFound(NotFound):
    code = "org_not_found"
    default_message = "No such organisation."


class ApprovalNotFound(NotFound):
    code = "approval_not_found"
    default_message = "No such directory approval in this organisation."


class HandoverNotFound(NotFound):
    """No such handover, or (for a customer) none that offers them to a successor."""

    code = "handover_not_found"
    default_message = "No such handover."


class NotOrgMember(NotFound):
    """The user is not a member of the organisation (a directory is its members' only)."""

    code = "not_org_member"
    default_message = "You are not a member of this organisation."


class InvalidOrgName(InvalidInput):
    code = "invalid_org_name"
    default_message = (
        "An organisation's name is 1-64 printable characters with no leading or trailing space."
    )


class InvalidHandover(InvalidInput):
    """A handover's successors: one or more, each a member, none twice, not the member."""

    code = "invalid_handover"
    default_message = "Name one or more successors, each a member of the organisation."


class NotOrgAdmin(Refused):
    code = "not_org_admin"
    default_message = "Only an administrator of the organisation can do this."


class EscalationRoleRequired(Refused):
    """An approval escalated at its deadline is decided by the escalation role alone."""

    code = "escalation_role_required"
    default_message = (
        "This approval was escalated at its deadline: an administrator with the `escalation`"
        " role decides it."
    )


class HandoverInProgress(Refused):
    """The organisation removes a departing member's work contacts in bulk only after their
    handover ends (all customers decided, or its period passed). The member's own removal of
    a contact is never refused."""

    code = "handover_in_progress"
    default_message = (
        "A handover of this member's work contacts is under way: they cannot be removed in"
        " bulk until it ends."
    )

    @classmethod
    def of(cls, number: int, ends_at: datetime) -> HandoverInProgress:
        return cls(
            f"Handover {number} of this member's work contacts is under way until every"
            f" customer has answered, or until {ends_at:%Y-%m-%dT%H:%M:%SZ} at the latest:"
            " their work contacts cannot be removed in bulk before it ends."
        )


class OrgExists(Conflict):
    code = "org_exists"
    default_message = "An organisation with that id already exists."


class WorkIdTaken(Conflict):
    code = "work_id_taken"
    default_message = "Another member of the organisation has that work id."


class ApprovalAlreadyDecided(Conflict):
    code = "approval_already_decided"
    default_message = "This directory approval was already decided."


class HandoverAlreadyAnswered(Conflict):
    """The customer already answered the handover, or it ended before they did."""

    code = "handover_already_answered"
    default_message = "This handover was already answered, or it has ended."


class CleanupBatchNotFound(NotFound):
    """No cleanup batch of yours has that id (another user's batch is not found either)."""

    code = "cleanup_batch_not_found"
    default_message = "No cleanup batch of yours has that id."


class UndoWindowPassed(Conflict):
    """The undo window of a cleanup batch has closed: re-add contacts one by one instead."""

    code = "undo_window_passed"
    default_message = (
        "The undo window of this cleanup has closed: send a friend request to each contact you"
        " want back."
    )


class CleanupAlreadyUndone(Conflict):
    code = "cleanup_already_undone"
    default_message = "This cleanup batch was undone already."


def all_error_classes() -> list[type[HushanError]]:
    """Every concrete error class, for the docs test and the status table."""
    found: list[type[HushanError]] = []
    pending: list[type[HushanError]] = [HushanError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.code)
