"""The device sync feed: what each of a user's devices must apply to its local copy, in order.

Every change that reaches a user's own side is appended to that user's feed with the next
number of *their* sequence (`seq`, 1, 2, ...), in the transaction that made the change: a new
message (sent or received), a contact added or removed from their own list, a history moved to
the buffer, restored, or purged. Nothing about the other side's list reaches the feed: a silent
removal stays silent here too.

Only a user with a device has a feed: changes are recorded from their first device on. A new
device starts at the head of the feed, having loaded the current state by the usual calls, so
nothing is lost, and a deployment whose users register no devices pays nothing for the feed.

Each device keeps a cursor, the last `seq` it has applied and acknowledged; it asks for the
changes after it, and waits (long-poll) when there are none. Cursors are stored, so they
survive restarts of the device and of the server.

**Purge instructions.** A purge (Rule 5 or 6) appends a `purge` change for the conversation to
both users' feeds. A device that was away when it happened gets it on return, however long it
was away, within the feed's retention. Nothing of a purged conversation is served after its
key is destroyed: a `message` change of it is skipped (its content is gone with the key), and
the purge sweep then blanks those changes once the rows are gone, so the feed keeps no trace
of the messages either.
So no content of a conversation ever follows its purge instruction.

**Retention.** Changes older than the retention [90 days] are dropped by the sweep, but never a
user's newest one, so numbers are never reused. A device whose cursor points before what is
kept gets `cursor_expired` and must fetch the current state again (contacts, conversations)
and start over from the head.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hushan.domain.errors import (
    CursorExpired,
    CursorOutOfRange,
    DeviceLimitReached,
    InvalidDeviceName,
)
from hushan.domain.model import Message
from hushan.domain.rules import is_label


class ChangeKind(StrEnum):
    MESSAGE = "message"
    CONTACT_ADDED = "contact_added"
    CONTACT_REMOVED = "contact_removed"
    HISTORY_BUFFERED = "history_buffered"  # read-only until purge_at (detail)
    RESTORE = "restore"  # the buffered history is whole again
    PURGE = "purge"  # drop every local copy of the conversation
    GONE = "gone"  # a message change of a purged conversation, blanked: never served


@dataclass(frozen=True, slots=True)
class NewChange:
    user: str
    kind: ChangeKind
    other: str
    conversation_id: int | None = None
    message_id: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    kind: ChangeKind
    at: datetime
    other: str
    conversation_id: int | None
    message: Message | None = None  # with kind `message`
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ChangesPage:
    after: int  # the cursor the page starts after
    changes: list[Change]
    next_cursor: int  # pass as `after` next time; acknowledge it once applied
    more: bool  # more changes are waiting right now


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    user: str
    name: str
    cursor: int
    registered_at: datetime
    acknowledged_at: datetime | None = None


def check_cursor(after: int, head: int, oldest: int | None) -> None:
    """`after` must be a number the user's feed has reached, and not before what is kept."""
    if after < 0 or after > head:
        raise CursorOutOfRange(f"The cursor must be between 0 and {head}, the feed's head.")
    if oldest is not None and after < oldest - 1:
        raise CursorExpired()


def check_device_room(devices: int, max_devices: int) -> None:
    if devices >= max_devices:
        raise DeviceLimitReached(f"A user has at most {max_devices} devices.")


def check_device_name(name: str) -> str:
    if not is_label(name, 64):
        raise InvalidDeviceName()
    return name
