"""The nouns of the contract: relations, history states, and the records the rules read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hushan.domain.notices import NoticeGrade


class PairRelation(StrEnum):
    """The four answers to "who has whom" for an ordered pair (a, b)."""

    BOTH_WAY = "both_way"
    A_HAS_B = "a_has_b"
    B_HAS_A = "b_has_a"
    NONE = "none"

    @classmethod
    def of(cls, a_has_b: bool, b_has_a: bool) -> PairRelation:
        if a_has_b and b_has_a:
            return cls.BOTH_WAY
        if a_has_b:
            return cls.A_HAS_B
        if b_has_a:
            return cls.B_HAS_A
        return cls.NONE


class HistoryState(StrEnum):
    ACTIVE = "active"
    BUFFERED = "buffered"
    PURGED = "purged"


class HistoryEvent(StrEnum):
    """What can happen to a conversation's history (the keys of the transition table)."""

    MUTUAL_DELETE = "mutual_delete"
    REFRIEND = "refriend"
    PURGE_DUE = "purge_due"
    BLOCK_DELETE = "block_delete"
    # A block-then-delete (or an erasure) while a legal hold covers the history: unreadable to
    # both at once, its key kept until the hold ends (hushan.domain.holds).
    HELD_BLOCK_DELETE = "held_block_delete"
    # The undo of a bulk removal that had buffered the history (hushan.domain.cleanup): it
    # comes back as the removal left it.
    REMOVAL_UNDONE = "removal_undone"


class RequestStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"  # by its sender, or closed by the sender's block of the addressee


class RequestOutcome(StrEnum):
    """What a sender is told after sending a friend request."""

    PENDING = "pending"  # waiting for verification (also what a swallowed request says)
    ADDED = "added"  # friends at once: verification off, or they still had you
    ALREADY_FRIENDS = "already_friends"


class AuditAction(StrEnum):
    REQUEST_SENT = "request_sent"
    REQUEST_SWALLOWED = "request_swallowed"
    REQUEST_ACCEPTED = "request_accepted"
    REQUEST_REJECTED = "request_rejected"
    REQUEST_EXPIRED = "request_expired"
    REQUEST_WITHDRAWN = "request_withdrawn"
    EDGE_ADDED = "edge_added"
    EDGE_REMOVED = "edge_removed"
    BLOCK_ADDED = "block_added"
    BLOCK_REMOVED = "block_removed"
    HISTORY_STARTED = "history_started"
    HISTORY_BUFFERED = "history_buffered"
    HISTORY_RESTORED = "history_restored"
    KEY_DESTROYED = "key_destroyed"
    ROWS_PURGED = "rows_purged"
    ACCOUNT_ERASED = "account_erased"  # the actor erased their account: the pair is gone
    # Enterprise links (hushan.domain.orgs): the directory change a mutual delete between two
    # members opens, and each step of it; the system acts (an administrator is named in the
    # entry's detail, never as its actor: the log's actors are the pair's or the system).
    DIRECTORY_CHANGE_OPENED = "directory_change_opened"
    DIRECTORY_CHANGE_APPROVED = "directory_change_approved"
    DIRECTORY_CHANGE_REJECTED = "directory_change_rejected"
    DIRECTORY_CHANGE_ESCALATED = "directory_change_escalated"
    DIRECTORY_CHANGE_APPLIED = "directory_change_applied"  # by the deadline policy
    # A handover (hushan.domain.orgs), of the departing member and a customer: offered by the
    # system for an administrator, answered by the customer, or left unanswered at its end.
    HANDOVER_OFFERED = "handover_offered"
    HANDOVER_ACCEPTED = "handover_accepted"
    HANDOVER_DECLINED = "handover_declined"
    HANDOVER_UNANSWERED = "handover_unanswered"
    # A member removed from an organisation, of the member and each colleague who saw them in
    # its directory: by the system for the deployment (named in the detail).
    ORG_MEMBER_REMOVED = "org_member_removed"
    # Legal holds (hushan.domain.holds), each by the system on the admin's word: the pair's
    # history became held, was sealed or kept past its purge date, or is held no longer.
    LEGAL_HOLD_PLACED = "legal_hold_placed"
    PURGE_DEFERRED_LEGAL_HOLD = "purge_deferred_legal_hold"
    LEGAL_HOLD_RELEASED = "legal_hold_released"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    display_name: str
    verification_required: bool
    created_at: datetime
    notice_grade: NoticeGrade = NoticeGrade.SILENT  # as chosen; see hushan.domain.notices
    hide_shared_groups: bool = False  # see hushan.domain.groups


@dataclass(frozen=True, slots=True)
class Conversation:
    """The single chat history of a pair. `user_lo < user_hi`, except where one of them is an
    erased account's reference (`erased:…`), which replaced its id."""

    id: int
    user_lo: str
    user_hi: str
    state: HistoryState
    purge_at: datetime | None
    block_deleted: bool
    created_at: datetime
    key_destroyed_at: datetime | None = None
    rows_purged_at: datetime | None = None
    # When a legal hold last kept it past its purge date (or sealed it): hushan.domain.holds.
    hold_deferred_at: datetime | None = None

    @property
    def pair(self) -> tuple[str, str]:
        return self.user_lo, self.user_hi


@dataclass(frozen=True, slots=True)
class PairFacts:
    """Everything the rules read about an ordered pair (actor, other), loaded in one query.

    `conversation` is the pair's latest conversation (live or purged), or None if they never
    had one. `other_exists` is False when the other user id is unknown. The contact counts
    feed the friend limit; `requests_pending` says whether a request either way is still
    marked pending (expired ones too, until the sweep marks them), so befriending knows
    whether there is any to close.
    """

    other_exists: bool
    other_requires_verification: bool
    actor_has_other: bool
    other_has_actor: bool
    actor_blocks_other: bool
    other_blocks_actor: bool
    conversation: Conversation | None
    actor_contacts: int
    other_contacts: int
    requests_pending: bool
    actor_notice_grade: NoticeGrade = NoticeGrade.SILENT  # as chosen, before the minimum
    # A removal still in force (made, and not undone by a re-add) either way.
    actor_removed_other: bool = False
    other_removed_actor: bool = False
    # The actor has a pending mutual-delete proposal to the other with "remove anyway".
    actor_proposed_removal: bool = False
    # Whether each side has a device, so a sync feed (hushan.domain.sync) to append to.
    actor_has_device: bool = False
    other_has_device: bool = False

    @property
    def relation(self) -> PairRelation:
        return PairRelation.of(self.actor_has_other, self.other_has_actor)

    @property
    def history_state(self) -> HistoryState | None:
        return self.conversation.state if self.conversation else None


@dataclass(frozen=True, slots=True)
class FriendRequest:
    id: int
    from_id: str
    to_id: str
    message: str
    status: RequestStatus
    created_at: datetime
    expires_at: datetime
    swallowed: bool = False  # sent to someone who blocks the sender; they never see it

    @property
    def pair(self) -> tuple[str, str]:
        return self.from_id, self.to_id


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    conversation_id: int
    sender_id: str
    body: str
    sent_at: datetime
    client_msg_id: str | None = None  # the sender's own id for it, unique per sender


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the append-only audit log (Rule 7). `relation` is of (user_a, user_b)."""

    at: datetime
    actor: str
    action: AuditAction
    user_a: str
    user_b: str
    relation: PairRelation
    history_state: HistoryState | None
    detail: str = ""
    seq: int = 0
    # The service credential the write came through, if any (never in the log's leaves).
    credential: str | None = None


@dataclass(frozen=True, slots=True)
class PairStatus:
    """The server's view of a pair (relation check and admin inspection)."""

    user_a: str
    user_b: str
    relation: PairRelation
    a_blocks_b: bool
    b_blocks_a: bool
    history_state: HistoryState | None
    purge_at: datetime | None
    block_deleted: bool


def ordered(a: str, b: str) -> tuple[str, str]:
    """A pair's canonical order, used to key its conversation."""
    return (a, b) if a < b else (b, a)
