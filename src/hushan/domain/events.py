"""Events out of hushan: what a webhook subscriber is told, without I/O.

Every audit entry (Rule 7) is an event: its action names the event type, and the event carries
the change (the pair, who acted, the resulting pair relation and history state) and the audit
`seq`, never a message body nor an entry's free-text detail. The payload follows the Standard
Webhooks shape: `type`, `timestamp`, `data`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hushan.clock import iso_utc
from hushan.domain.model import AuditAction


class EventType(StrEnum):
    REQUEST_SENT = "request.sent"
    REQUEST_SWALLOWED = "request.swallowed"
    REQUEST_ACCEPTED = "request.accepted"
    REQUEST_REJECTED = "request.rejected"
    REQUEST_EXPIRED = "request.expired"
    REQUEST_WITHDRAWN = "request.withdrawn"
    CONTACT_ADDED = "contact.added"
    CONTACT_REMOVED = "contact.removed"
    BLOCK_ADDED = "block.added"
    BLOCK_REMOVED = "block.removed"
    HISTORY_STARTED = "history.started"
    HISTORY_BUFFERED = "history.buffered"
    HISTORY_RESTORED = "history.restored"
    HISTORY_KEY_DESTROYED = "history.key_destroyed"
    HISTORY_PURGED = "history.purged"
    ACCOUNT_ERASED = "account.erased"
    DIRECTORY_CHANGE_OPENED = "directory.change_opened"
    DIRECTORY_CHANGE_APPROVED = "directory.change_approved"
    DIRECTORY_CHANGE_REJECTED = "directory.change_rejected"
    DIRECTORY_CHANGE_ESCALATED = "directory.change_escalated"
    DIRECTORY_CHANGE_APPLIED = "directory.change_applied"
    HANDOVER_OFFERED = "handover.offered"
    HANDOVER_ACCEPTED = "handover.accepted"
    HANDOVER_DECLINED = "handover.declined"
    HANDOVER_UNANSWERED = "handover.unanswered"
    ORG_MEMBER_REMOVED = "directory.member_removed"
    LEGAL_HOLD_PLACED = "history.hold_placed"
    PURGE_DEFERRED_LEGAL_HOLD = "history.purge_deferred"
    LEGAL_HOLD_RELEASED = "history.hold_released"


EVENT_OF_ACTION: dict[AuditAction, EventType] = {
    AuditAction.REQUEST_SENT: EventType.REQUEST_SENT,
    AuditAction.REQUEST_SWALLOWED: EventType.REQUEST_SWALLOWED,
    AuditAction.REQUEST_ACCEPTED: EventType.REQUEST_ACCEPTED,
    AuditAction.REQUEST_REJECTED: EventType.REQUEST_REJECTED,
    AuditAction.REQUEST_EXPIRED: EventType.REQUEST_EXPIRED,
    AuditAction.REQUEST_WITHDRAWN: EventType.REQUEST_WITHDRAWN,
    AuditAction.EDGE_ADDED: EventType.CONTACT_ADDED,
    AuditAction.EDGE_REMOVED: EventType.CONTACT_REMOVED,
    AuditAction.BLOCK_ADDED: EventType.BLOCK_ADDED,
    AuditAction.BLOCK_REMOVED: EventType.BLOCK_REMOVED,
    AuditAction.HISTORY_STARTED: EventType.HISTORY_STARTED,
    AuditAction.HISTORY_BUFFERED: EventType.HISTORY_BUFFERED,
    AuditAction.HISTORY_RESTORED: EventType.HISTORY_RESTORED,
    AuditAction.KEY_DESTROYED: EventType.HISTORY_KEY_DESTROYED,
    AuditAction.ROWS_PURGED: EventType.HISTORY_PURGED,
    AuditAction.ACCOUNT_ERASED: EventType.ACCOUNT_ERASED,
    AuditAction.DIRECTORY_CHANGE_OPENED: EventType.DIRECTORY_CHANGE_OPENED,
    AuditAction.DIRECTORY_CHANGE_APPROVED: EventType.DIRECTORY_CHANGE_APPROVED,
    AuditAction.DIRECTORY_CHANGE_REJECTED: EventType.DIRECTORY_CHANGE_REJECTED,
    AuditAction.DIRECTORY_CHANGE_ESCALATED: EventType.DIRECTORY_CHANGE_ESCALATED,
    AuditAction.DIRECTORY_CHANGE_APPLIED: EventType.DIRECTORY_CHANGE_APPLIED,
    AuditAction.HANDOVER_OFFERED: EventType.HANDOVER_OFFERED,
    AuditAction.HANDOVER_ACCEPTED: EventType.HANDOVER_ACCEPTED,
    AuditAction.HANDOVER_DECLINED: EventType.HANDOVER_DECLINED,
    AuditAction.HANDOVER_UNANSWERED: EventType.HANDOVER_UNANSWERED,
    AuditAction.ORG_MEMBER_REMOVED: EventType.ORG_MEMBER_REMOVED,
    AuditAction.LEGAL_HOLD_PLACED: EventType.LEGAL_HOLD_PLACED,
    AuditAction.PURGE_DEFERRED_LEGAL_HOLD: EventType.PURGE_DEFERRED_LEGAL_HOLD,
    AuditAction.LEGAL_HOLD_RELEASED: EventType.LEGAL_HOLD_RELEASED,
}


@dataclass(frozen=True, slots=True)
class Event:
    """One outbox row: an audit entry as subscribers see it."""

    seq: int
    type: EventType
    at: datetime
    actor: str
    user_a: str
    user_b: str
    relation: str
    history_state: str | None

    @property
    def webhook_id(self) -> str:
        """The Standard Webhooks `webhook-id`: the same for every attempt and replay of the
        event, so a receiver can drop the duplicates at-least-once delivery brings."""
        return f"evt_{self.seq}"

    def payload(self) -> bytes:
        """The body sent, compact JSON with sorted keys (the bytes that are signed)."""
        document = {
            "type": self.type.value,
            "timestamp": iso_utc(self.at),
            "data": {
                "seq": self.seq,
                "actor": self.actor,
                "pair": [self.user_a, self.user_b],
                "relation": self.relation,
                "history_state": self.history_state,
            },
        }
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def pair_key(a: str, b: str) -> str:
    """The pair's key for per-pair ordering: the same whichever side acted, and not an id
    (it outlives an erasure without naming anyone)."""
    lo, hi = sorted((a, b))
    return hashlib.sha256(f"{lo}\x00{hi}".encode()).hexdigest()[:32]
